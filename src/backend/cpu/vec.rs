//! f32 vector primitives. Written with independent accumulators so LLVM vectorises them, and
//! compiled for AVX-512 and AVX2+FMA with run-time dispatch (`multiversion`), scalar elsewhere.

use half::f16;
use multiversion::multiversion;

const LANES: usize = 16;

#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma+f16c"))]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * y;
    }
    sum
}

/// Dot product of f16 vectors with f32 accumulation (attention scores over the f16 KV cache).
///
/// The order of the f32 operations is that of ggml's `ggml_vec_dot_f16` on AVX-512: four
/// 16-lane FMA accumulators over 64-element steps, reduced pairwise and then across lanes, the
/// tail summed in f64. Attention scores decide greedy tokens, so we match it bit for bit.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma+f16c"))]
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [[0.0f32; 16]; 4];
    let mut ca = a.chunks_exact(64);
    let mut cb = b.chunks_exact(64);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for (j, acc_j) in acc.iter_mut().enumerate() {
            for (l, lane) in acc_j.iter_mut().enumerate() {
                let e = 16 * j + l;
                *lane = x[e].to_f32().mul_add(y[e].to_f32(), *lane);
            }
        }
    }
    let mut v = [0.0f32; 16];
    for l in 0..16 {
        v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    }
    let mut sum = reduce_add_16(&v) as f64;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += (x.to_f32() * y.to_f32()) as f64;
    }
    sum as f32
}

/// `_mm512_reduce_add_ps`'s tree: halves of 8, then of 4, then pairs (2,3)+(0,1), then 0+1.
fn reduce_add_16(v: &[f32; 16]) -> f32 {
    let t3: [f32; 8] = std::array::from_fn(|i| v[i + 8] + v[i]);
    let t6: [f32; 4] = std::array::from_fn(|i| t3[i + 4] + t3[i]);
    let t8 = [t6[0] + t6[2], t6[1] + t6[3]];
    t8[0] + t8[1]
}

/// y += a * x.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma+f16c"))]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = xi.mul_add(a, *yi);
    }
}

/// y = f16(y · a), ggml's `ggml_vec_scale_f16`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma+f16c"))]
pub fn scale_f16(y: &mut [f16], a: f32) {
    for v in y {
        *v = f16::from_f32(v.to_f32() * a);
    }
}

/// y = f16(x · a + y) with one f32 rounding (a fused multiply-add), ggml's `ggml_vec_mad_f16`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma+f16c"))]
pub fn mad_f16(y: &mut [f16], x: &[f16], a: f32) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = f16::from_f32(xi.to_f32().mul_add(a, yi.to_f32()));
    }
}

#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma+f16c"))]
pub fn scale(y: &mut [f32], a: f32) {
    for v in y {
        *v *= a;
    }
}

/// y += x.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma+f16c"))]
pub fn add_assign(y: &mut [f32], x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += xi;
    }
}

/// y *= x, element-wise.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma+f16c"))]
pub fn mul_assign(y: &mut [f32], x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi *= xi;
    }
}

#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma+f16c"))]
pub fn to_f16(dst: &mut [f16], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f16::from_f32(*s);
    }
}

/// Sum of squares (each square rounded to f32) accumulated in f64 in order, as ggml's
/// `rms_norm` does.
pub fn sum_squares_f64(x: &[f32]) -> f64 {
    x.iter().fold(0.0f64, |acc, &v| acc + (v * v) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize, k: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32) * k).sin() + 0.1).collect()
    }

    #[test]
    fn dot_matches_naive_at_odd_lengths() {
        for n in [1, 7, 16, 17, 255, 640] {
            let (a, b) = (ramp(n, 0.37), ramp(n, 0.11));
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| (*x as f64) * (*y as f64)).sum();
            assert!((dot(&a, &b) as f64 - naive).abs() <= 1e-4 * naive.abs().max(1.0), "n={n}");
            let (ah, bh): (Vec<f16>, Vec<f16>) =
                (a.iter().map(|&v| f16::from_f32(v)).collect(), b.iter().map(|&v| f16::from_f32(v)).collect());
            assert!((dot_f16(&ah, &bh) as f64 - naive).abs() <= 1e-2 * naive.abs().max(1.0), "f16 n={n}");
        }
    }

    #[test]
    fn axpy_and_mad_f16_accumulate() {
        let mut y = vec![1.0f32; 19];
        let x: Vec<f32> = (0..19).map(|i| i as f32).collect();
        axpy(&mut y, 0.5, &x);
        assert_eq!((y[0], y[18]), (1.0, 10.0));
        let mut acc = vec![f16::ONE; 19];
        let xh: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
        mad_f16(&mut acc, &xh, 0.5);
        assert_eq!((acc[0].to_f32(), acc[18].to_f32()), (1.0, 10.0));
    }
}

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
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if f16c::available() {
        // SAFETY: the CPU has AVX, FMA and F16C (checked just above).
        let acc = unsafe { f16c::dot_lanes(a, b) };
        return finish_dot_f16(&acc, a, b);
    }
    finish_dot_f16(&portable::dot_lanes(a, b), a, b)
}

/// The four accumulators' reduction, then the elements past the last whole 64, in f64.
fn finish_dot_f16(acc: &[[f32; 16]; 4], a: &[f16], b: &[f16]) -> f32 {
    let mut v = [0.0f32; 16];
    for l in 0..16 {
        v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    }
    let mut sum = reduce_add_16(&v) as f64;
    let whole = a.len() / 64 * 64;
    for (x, y) in a[whole..].iter().zip(&b[whole..]) {
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
pub fn scale_f16(y: &mut [f16], a: f32) {
    #[cfg(target_arch = "x86_64")]
    if f16c::available() {
        // SAFETY: the CPU has AVX, FMA and F16C (checked just above).
        return unsafe { f16c::scale(y, a) };
    }
    portable::scale(y, a)
}

/// y = f16(x · a + y) with one f32 rounding (a fused multiply-add), ggml's `ggml_vec_mad_f16`.
pub fn mad_f16(y: &mut [f16], x: &[f16], a: f32) {
    #[cfg(target_arch = "x86_64")]
    if f16c::available() {
        // SAFETY: the CPU has AVX, FMA and F16C (checked just above).
        return unsafe { f16c::mad(y, x, a) };
    }
    portable::mad(y, x, a)
}

/// The f16 loops in plain Rust: the definition of their arithmetic, for CPUs without F16C.
mod portable {
    use half::f16;

    pub fn dot_lanes(a: &[f16], b: &[f16]) -> [[f32; 16]; 4] {
        let mut acc = [[0.0f32; 16]; 4];
        for (x, y) in a.chunks_exact(64).zip(b.chunks_exact(64)) {
            for (j, acc_j) in acc.iter_mut().enumerate() {
                for (l, lane) in acc_j.iter_mut().enumerate() {
                    let e = 16 * j + l;
                    *lane = x[e].to_f32().mul_add(y[e].to_f32(), *lane);
                }
            }
        }
        acc
    }

    pub fn mad(y: &mut [f16], x: &[f16], a: f32) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi = f16::from_f32(xi.to_f32().mul_add(a, yi.to_f32()));
        }
    }

    pub fn scale(y: &mut [f16], a: f32) {
        for v in y {
            *v = f16::from_f32(v.to_f32() * a);
        }
    }
}

/// The f16 loops with the F16C conversions: `half`'s per-element conversions check the CPU at
/// every call and keep LLVM from vectorising (attention spent most of its time in them). The
/// arithmetic, lane by lane, is the portable loops' (conversions to f32 are exact, and F16C
/// rounds to nearest even as `f16::from_f32` does), so results are bit for bit the same.
#[cfg(target_arch = "x86_64")]
mod f16c {
    use std::arch::x86_64::*;

    use half::f16;

    pub fn available() -> bool {
        is_x86_feature_detected!("avx") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
    }

    /// 8 f16 at `p` as f32.
    ///
    /// # Safety
    /// 8 elements must be readable at `p`; the CPU must have F16C.
    #[inline]
    #[target_feature(enable = "avx,f16c")]
    unsafe fn load8(p: *const f16) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(p.cast()))
    }

    /// # Safety
    /// 8 elements must be writable at `p`; the CPU must have F16C.
    #[inline]
    #[target_feature(enable = "avx,f16c")]
    unsafe fn store8(p: *mut f16, v: __m256) {
        _mm_storeu_si128(p.cast(), _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v));
    }

    /// `dot_f16`'s four 16-lane accumulators over the whole 64-element steps.
    ///
    /// # Safety
    /// The CPU must have AVX, FMA and F16C.
    #[target_feature(enable = "avx,fma,f16c")]
    pub unsafe fn dot_lanes(a: &[f16], b: &[f16]) -> [[f32; 16]; 4] {
        let mut acc = [_mm256_setzero_ps(); 8];
        let steps = a.len().min(b.len()) / 64;
        for s in 0..steps {
            // SAFETY: element 64 s + 63 is within both slices.
            let (x, y) = unsafe { (a.as_ptr().add(64 * s), b.as_ptr().add(64 * s)) };
            for (h, acc_h) in acc.iter_mut().enumerate() {
                // SAFETY: half h of the step is elements 8h..8h+8 of it.
                *acc_h = unsafe { _mm256_fmadd_ps(load8(x.add(8 * h)), load8(y.add(8 * h)), *acc_h) };
            }
        }
        let mut out = [[0.0f32; 16]; 4];
        for (h, acc_h) in acc.iter().enumerate() {
            // SAFETY: 8 floats are writable at lane 8(h % 2) of accumulator h / 2.
            unsafe { _mm256_storeu_ps(out[h / 2].as_mut_ptr().add(8 * (h % 2)), *acc_h) };
        }
        out
    }

    /// # Safety
    /// The CPU must have AVX, FMA and F16C.
    #[target_feature(enable = "avx,fma,f16c")]
    pub unsafe fn mad(y: &mut [f16], x: &[f16], a: f32) {
        let n = y.len().min(x.len());
        let va = _mm256_set1_ps(a);
        for i in (0..n / 8).map(|k| 8 * k) {
            // SAFETY: elements i..i + 8 are within both slices.
            unsafe {
                let r = _mm256_fmadd_ps(load8(x.as_ptr().add(i)), va, load8(y.as_ptr().add(i)));
                store8(y.as_mut_ptr().add(i), r);
            }
        }
        super::portable::mad(&mut y[n / 8 * 8..n], &x[n / 8 * 8..n], a);
    }

    /// # Safety
    /// The CPU must have AVX, FMA and F16C.
    #[target_feature(enable = "avx,fma,f16c")]
    pub unsafe fn scale(y: &mut [f16], a: f32) {
        let va = _mm256_set1_ps(a);
        let n = y.len();
        for i in (0..n / 8).map(|k| 8 * k) {
            // SAFETY: elements i..i + 8 are within the slice.
            unsafe { store8(y.as_mut_ptr().add(i), _mm256_mul_ps(load8(y.as_ptr().add(i)), va)) };
        }
        super::portable::scale(&mut y[n / 8 * 8..], a);
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

    /// The F16C loops against the portable ones, bit for bit, on values that round in every
    /// way (subnormal results, overflow to infinity, ties).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn f16c_loops_are_the_portable_ones_bit_for_bit() {
        if !f16c::available() {
            eprintln!("SKIPPED: this CPU has no F16C");
            return;
        }
        let bits = |n: usize, seed: u32| -> Vec<f16> {
            (0..n as u32)
                .map(|i| f16::from_bits((i.wrapping_mul(2654435761).wrapping_add(seed) >> 7) as u16 & 0x7bff))
                .collect()
        };
        for n in [1, 7, 8, 63, 64, 200, 256, 1000] {
            let (x, y) = (bits(n, 1), bits(n, 99));
            // SAFETY: F16C is available (checked above).
            let fast = unsafe { f16c::dot_lanes(&x, &y) };
            assert_eq!(fast.map(|l| l.map(f32::to_bits)), portable::dot_lanes(&x, &y).map(|l| l.map(f32::to_bits)));
            for a in [0.5f32, 1.0e-3, 3.7, 6.1e4, -0.25] {
                let (mut m1, mut m2) = (y.clone(), y.clone());
                // SAFETY: as above.
                unsafe { f16c::mad(&mut m1, &x, a) };
                portable::mad(&mut m2, &x, a);
                assert_eq!(
                    m1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    m2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "mad n={n} a={a}"
                );
                let (mut s1, mut s2) = (y.clone(), y.clone());
                // SAFETY: as above.
                unsafe { f16c::scale(&mut s1, a) };
                portable::scale(&mut s2, a);
                assert_eq!(
                    s1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    s2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "scale n={n} a={a}"
                );
            }
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

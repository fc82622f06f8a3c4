//! Element-wise and row-wise ops of the decoder, each the CPU reference for its GPU kernel.
//! Where llama.cpp's CPU backend has a numerical quirk that decides greedy tokens (f64 norm
//! sums, the f16 GELU table, the rope angle recurrence) we reproduce it and say so.

use std::sync::OnceLock;

use half::f16;

use super::vec;
use crate::model::RopeKind;

/// out = x / sqrt(mean(x²) + eps) * w. The sum of squares is taken in f64 like ggml's.
pub fn rmsnorm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let mean = (vec::sum_squares_f64(x) / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &xi), &wi) in out.iter_mut().zip(x).zip(w) {
        *o = (xi * scale) * wi;
    }
}

pub fn rmsnorm_in_place(x: &mut [f32], w: &[f32], eps: f32) {
    let mean = (vec::sum_squares_f64(x) / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for (xi, &wi) in x.iter_mut().zip(w) {
        *xi = (*xi * scale) * wi;
    }
}

/// Precomputed cos/sin for one position: `n_rot / 2` pairs.
pub struct RopeAngles {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
}

/// Angles for position `pos`: θ_i = pos · scale · base^(−2i/n_rot) · 1/factor_i.
///
/// Like ggml's `rope_cache_init`, θ is advanced by repeated multiplication with
/// base^(−2/n_rot) in f32 rather than by `powf` per pair; the rounding differs slightly.
pub fn rope_angles(pos: usize, n_rot: usize, base: f32, scale: f32, factors: Option<&[f32]>) -> RopeAngles {
    let theta_scale = base.powf(-2.0 / n_rot as f32);
    let mut theta = pos as f32;
    let (mut cos, mut sin) = (Vec::with_capacity(n_rot / 2), Vec::with_capacity(n_rot / 2));
    for i in 0..n_rot / 2 {
        let factor = factors.map_or(1.0, |f| f[i]);
        let angle = scale * (theta / factor);
        cos.push(angle.cos());
        sin.push(angle.sin());
        theta *= theta_scale;
    }
    RopeAngles { cos, sin }
}

/// Rotates the first `n_rot` dimensions of one head in place.
pub fn rope(head: &mut [f32], angles: &RopeAngles, kind: RopeKind) {
    let half = angles.cos.len();
    for i in 0..half {
        let (a, b) = match kind {
            RopeKind::Normal => (2 * i, 2 * i + 1),
            RopeKind::Neox => (i, i + half),
        };
        let (x0, x1) = (head[a], head[b]);
        let (c, s) = (angles.cos[i], angles.sin[i]);
        head[a] = x0.mul_add(c, -(x1 * s));
        head[b] = x0.mul_add(s, x1 * c);
    }
}

const GELU_COEF_A: f32 = 0.044715;
const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// GELU, tanh approximation. The inner `1 + a·x·x` is one fused multiply-add, as the C compiler
/// contracts it in ggml (whose f16 table we reproduce from this).
pub fn gelu_tanh(x: f32) -> f32 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (GELU_COEF_A * x).mul_add(x, 1.0)).tanh())
}

/// ggml's CPU GELU looks x up, rounded to f16, in a table of f16 results; so do we.
fn gelu_table() -> &'static [f16] {
    static TABLE: OnceLock<Vec<f16>> = OnceLock::new();
    TABLE.get_or_init(|| (0..=u16::MAX).map(|bits| f16::from_f32(gelu_tanh(f16::from_bits(bits).to_f32()))).collect())
}

/// gate = GELU(gate) * up.
pub fn geglu(gate: &mut [f32], up: &[f32]) {
    let table = gelu_table();
    for (g, &u) in gate.iter_mut().zip(up) {
        let x = *g;
        *g = if x <= -10.0 {
            0.0
        } else if x >= 10.0 {
            x * u
        } else {
            table[f16::from_f32(x).to_bits() as usize].to_f32() * u
        };
    }
}

/// gate = SiLU(gate) * up.
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// cap · tanh(x / cap), Gemma 2's logit soft-capping.
pub fn softcap(x: &mut [f32], cap: f32) {
    for v in x {
        *v = cap * (*v / cap).tanh();
    }
}

/// In-place softmax; returns nothing for an empty slice.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    vec::scale(x, inv);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmsnorm_of_constant_is_weight() {
        let x = vec![3.0f32; 8];
        let w: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let mut out = vec![f32::NAN; 8];
        rmsnorm(&mut out, &x, &w, 0.0);
        for (o, wi) in out.iter().zip(&w) {
            assert!((o - wi).abs() < 1e-6);
        }
    }

    #[test]
    fn rope_preserves_norm_and_rotates_by_position() {
        for kind in [RopeKind::Normal, RopeKind::Neox] {
            let mut head: Vec<f32> = (0..64).map(|i| (i as f32 * 0.3).cos()).collect();
            let before: f32 = head.iter().map(|v| v * v).sum();
            let a0 = rope_angles(0, 64, 10000.0, 1.0, None);
            let orig = head.clone();
            rope(&mut head, &a0, kind);
            assert_eq!(head, orig, "position 0 is the identity");
            rope(&mut head, &rope_angles(17, 64, 10000.0, 1.0, None), kind);
            let after: f32 = head.iter().map(|v| v * v).sum();
            assert!((before - after).abs() < 1e-3);
            assert!(head != orig);
        }
    }

    #[test]
    fn rope_first_pair_angle_is_position() {
        let a = rope_angles(5, 8, 10000.0, 1.0, None);
        assert!((a.cos[0] - 5f32.cos()).abs() < 1e-6);
        let mut h = vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        rope(&mut h, &a, RopeKind::Normal);
        assert!((h[1] - 5f32.sin()).abs() < 1e-6);
    }

    #[test]
    fn geglu_table_is_close_to_exact() {
        let mut g: Vec<f32> = (-120..120).map(|i| i as f32 * 0.1).collect();
        let exact: Vec<f32> = g.iter().map(|&x| gelu_tanh(x)).collect();
        geglu(&mut g, &vec![1.0; 240]);
        for (a, b) in g.iter().zip(&exact) {
            assert!((a - b).abs() <= 1e-2 * b.abs().max(0.1), "{a} vs {b}");
        }
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x = vec![1.0, 2.0, 3.0, -1e4];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[2] > x[1] && x[3] == 0.0);
    }
}

//! F32, F16 and BF16 rows. Their dot-product partners are themselves (as in ggml), so f16
//! weights meet f16 activations and the sum is taken in f32.

use half::{bf16, f16};

pub fn dot_f32(w: &[f32], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (wc, xc) = (w.chunks_exact(8), x.chunks_exact(8));
    let tail: f32 = wc.remainder().iter().zip(xc.remainder()).map(|(a, b)| a * b).sum();
    for (a, b) in wc.zip(xc) {
        for i in 0..8 {
            acc[i] += a[i] * b[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

pub fn dot_f16(w: &[f16], x: &[f16]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (wc, xc) = (w.chunks_exact(8), x.chunks_exact(8));
    let tail: f32 = wc.remainder().iter().zip(xc.remainder()).map(|(a, b)| a.to_f32() * b.to_f32()).sum();
    for (a, b) in wc.zip(xc) {
        for i in 0..8 {
            acc[i] += a[i].to_f32() * b[i].to_f32();
        }
    }
    acc.iter().sum::<f32>() + tail
}

pub fn dot_bf16(w: &[bf16], x: &[bf16]) -> f32 {
    w.iter().zip(x).map(|(a, b)| a.to_f32() * b.to_f32()).sum()
}

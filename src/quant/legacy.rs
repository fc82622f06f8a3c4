//! The 32-element formats: Q4_0, Q4_1, Q5_0, Q5_1 (weights) and Q8_0, Q8_1 (weights and
//! activations). Scalar reference code; `x86.rs` has the fast paths.

use half::f16;

use super::blocks::*;

fn q5_high_bits(qh: [u8; 4]) -> u32 {
    u32::from_le_bytes(qh)
}

/// The 32 signed quant values of a Q4_0 block (nibble − 8).
pub fn q4_0_values(b: &BlockQ4_0) -> [i8; QK] {
    let mut v = [0i8; QK];
    for j in 0..QK / 2 {
        v[j] = (b.qs[j] & 0xF) as i8 - 8;
        v[j + QK / 2] = (b.qs[j] >> 4) as i8 - 8;
    }
    v
}

/// The 32 unsigned quant values of a Q4_1 block.
pub fn q4_1_values(b: &BlockQ4_1) -> [i8; QK] {
    let mut v = [0i8; QK];
    for j in 0..QK / 2 {
        v[j] = (b.qs[j] & 0xF) as i8;
        v[j + QK / 2] = (b.qs[j] >> 4) as i8;
    }
    v
}

/// Q5 values before the offset: nibble plus the fifth bit from `qh`.
fn q5_raw(qs: &[u8; 16], qh: [u8; 4]) -> [i8; QK] {
    let h = q5_high_bits(qh);
    let mut v = [0i8; QK];
    for j in 0..QK / 2 {
        let h0 = ((h >> j) << 4) & 0x10;
        let h1 = (h >> (j + 12)) & 0x10;
        v[j] = ((qs[j] & 0xF) as u32 | h0) as i8;
        v[j + QK / 2] = ((qs[j] >> 4) as u32 | h1) as i8;
    }
    v
}

pub fn q5_0_values(b: &BlockQ5_0) -> [i8; QK] {
    q5_raw(&b.qs, b.qh).map(|x| x - 16)
}

pub fn q5_1_values(b: &BlockQ5_1) -> [i8; QK] {
    q5_raw(&b.qs, b.qh)
}

fn scaled(v: [i8; QK], d: f32, m: f32, out: &mut [f32]) {
    for (o, q) in out.iter_mut().zip(v) {
        *o = q as f32 * d + m;
    }
}

pub fn dequant_q4_0(b: &[BlockQ4_0], out: &mut [f32]) {
    for (b, o) in b.iter().zip(out.chunks_exact_mut(QK)) {
        scaled(q4_0_values(b), b.d.to_f32(), 0.0, o);
    }
}

pub fn dequant_q4_1(b: &[BlockQ4_1], out: &mut [f32]) {
    for (b, o) in b.iter().zip(out.chunks_exact_mut(QK)) {
        scaled(q4_1_values(b), b.d.to_f32(), b.m.to_f32(), o);
    }
}

pub fn dequant_q5_0(b: &[BlockQ5_0], out: &mut [f32]) {
    for (b, o) in b.iter().zip(out.chunks_exact_mut(QK)) {
        scaled(q5_0_values(b), b.d.to_f32(), 0.0, o);
    }
}

pub fn dequant_q5_1(b: &[BlockQ5_1], out: &mut [f32]) {
    for (b, o) in b.iter().zip(out.chunks_exact_mut(QK)) {
        scaled(q5_1_values(b), b.d.to_f32(), b.m.to_f32(), o);
    }
}

pub fn dequant_q8_0(b: &[BlockQ8_0], out: &mut [f32]) {
    for (b, o) in b.iter().zip(out.chunks_exact_mut(QK)) {
        scaled(b.qs, b.d.to_f32(), 0.0, o);
    }
}

pub fn dequant_q8_1(b: &[BlockQ8_1], out: &mut [f32]) {
    for (b, o) in b.iter().zip(out.chunks_exact_mut(QK)) {
        scaled(b.qs, b.d.to_f32(), 0.0, o);
    }
}

/// Max-abs scaling to ±127 with round-half-even, bit for bit what ggml's AVX quantizer
/// (`quantize_row_q8_0` on x86) produces: d = amax/127 but the multiplier is 127/amax.
fn q8_scale(x: &[f32]) -> (f32, f32, [i8; QK]) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut qs = [0i8; QK];
    for (q, &v) in qs.iter_mut().zip(x) {
        // |v · id| ≤ 127.
        *q = round_half_even(v * id) as i8;
    }
    (d, id, qs)
}

/// `v.round_ties_even()` for |v| ≤ 2^22, in two additions: the baseline x86-64 target lacks
/// SSE4.1's `roundss`, so `round_ties_even` is a libm call per value (4 % of decode). Adding
/// 1.5·2^23 leaves a number whose unit is the last bit, so the sum is rounded to an integer,
/// half to even; subtracting it again is exact.
#[inline]
pub(crate) fn round_half_even(v: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23
    (v + SHIFT) - SHIFT
}

pub fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    for (xb, b) in x.chunks_exact(QK).zip(out) {
        let (d, _, qs) = q8_scale(xb);
        *b = BlockQ8_0 { d: f16::from_f32(d), qs };
    }
}

pub fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) {
    for (xb, b) in x.chunks_exact(QK).zip(out) {
        let (d, _, qs) = q8_scale(xb);
        let sum: i32 = qs.iter().map(|&q| q as i32).sum();
        *b = BlockQ8_1 { d: f16::from_f32(d), s: f16::from_f32(d * sum as f32), qs };
    }
}

/// ggml's reference 4-bit quantizer: the signed max maps to −8.
pub fn quantize_q4_0(x: &[f32], out: &mut [BlockQ4_0]) {
    for (xb, b) in x.chunks_exact(QK).zip(out) {
        let max = signed_max(xb);
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut qs = [0u8; QK / 2];
        for j in 0..QK / 2 {
            let q0 = ((xb[j] * id + 8.5) as i32).min(15) as u8;
            let q1 = ((xb[j + QK / 2] * id + 8.5) as i32).min(15) as u8;
            qs[j] = q0 | (q1 << 4);
        }
        *b = BlockQ4_0 { d: f16::from_f32(d), qs };
    }
}

pub fn quantize_q4_1(x: &[f32], out: &mut [BlockQ4_1]) {
    for (xb, b) in x.chunks_exact(QK).zip(out) {
        let (min, max) = xb.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut qs = [0u8; QK / 2];
        for j in 0..QK / 2 {
            let q0 = (((xb[j] - min) * id + 0.5) as i32).min(15) as u8;
            let q1 = (((xb[j + QK / 2] - min) * id + 0.5) as i32).min(15) as u8;
            qs[j] = q0 | (q1 << 4);
        }
        *b = BlockQ4_1 { d: f16::from_f32(d), m: f16::from_f32(min), qs };
    }
}

pub fn quantize_q5_0(x: &[f32], out: &mut [BlockQ5_0]) {
    for (xb, b) in x.chunks_exact(QK).zip(out) {
        let max = signed_max(xb);
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let (qs, qh) = pack5(|j| ((xb[j] * id + 16.5) as i32).min(31) as u32);
        *b = BlockQ5_0 { d: f16::from_f32(d), qh, qs };
    }
}

pub fn quantize_q5_1(x: &[f32], out: &mut [BlockQ5_1]) {
    for (xb, b) in x.chunks_exact(QK).zip(out) {
        let (min, max) = xb.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let (qs, qh) = pack5(|j| (((xb[j] - min) * id + 0.5) as i32).min(31) as u32);
        *b = BlockQ5_1 { d: f16::from_f32(d), m: f16::from_f32(min), qh, qs };
    }
}

/// The value of largest magnitude, with its sign.
fn signed_max(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m })
}

fn pack5(q: impl Fn(usize) -> u32) -> ([u8; 16], [u8; 4]) {
    let mut qs = [0u8; 16];
    let mut h = 0u32;
    for (j, byte) in qs.iter_mut().enumerate() {
        let (q0, q1) = (q(j), q(j + QK / 2));
        *byte = ((q0 & 0xF) | ((q1 & 0xF) << 4)) as u8;
        h |= ((q0 & 0x10) >> 4) << j;
        h |= ((q1 & 0x10) >> 4) << (j + QK / 2);
    }
    (qs, h.to_le_bytes())
}

fn idot(a: &[i8; QK], b: &[i8; QK]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

pub fn dot_q4_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    w.iter().zip(x).map(|(w, x)| idot(&q4_0_values(w), &x.qs) as f32 * (w.d.to_f32() * x.d.to_f32())).sum()
}

pub fn dot_q5_0(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 {
    w.iter().zip(x).map(|(w, x)| idot(&q5_0_values(w), &x.qs) as f32 * (w.d.to_f32() * x.d.to_f32())).sum()
}

pub fn dot_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    w.iter().zip(x).map(|(w, x)| idot(&w.qs, &x.qs) as f32 * (w.d.to_f32() * x.d.to_f32())).sum()
}

pub fn dot_q4_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, x)| idot(&q4_1_values(w), &x.qs) as f32 * (w.d.to_f32() * x.d.to_f32()) + w.m.to_f32() * x.s.to_f32())
        .sum()
}

pub fn dot_q5_1(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, x)| idot(&q5_1_values(w), &x.qs) as f32 * (w.d.to_f32() * x.d.to_f32()) + w.m.to_f32() * x.s.to_f32())
        .sum()
}

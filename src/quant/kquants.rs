//! K-quants (256-element super-blocks with 16 or 8 sub-block scales) and Q8_K, their
//! activation partner. Every weight block is decoded into one shape, `Decoded`: integer quant
//! values, integer sub-block scales and mins, and the two f16 super-scales. Dequantization and
//! the scalar reference dot product are then written once for all five formats.

use super::blocks::*;

/// A K-quant block as integers: value i is `d·scale[s]·q[i] − dmin·min[s]`, s = i / sub_len.
pub struct Decoded {
    pub q: [i8; QK_K],
    pub sub_len: usize,
    pub scale: [i32; 16],
    pub min: [i32; 16],
    pub d: f32,
    pub dmin: f32,
}

impl Decoded {
    fn new(sub_len: usize, d: f32, dmin: f32) -> Self {
        Decoded { q: [0; QK_K], sub_len, scale: [0; 16], min: [0; 16], d, dmin }
    }

    fn n_sub(&self) -> usize {
        QK_K / self.sub_len
    }

    fn dequant(&self, out: &mut [f32]) {
        let subs = out.chunks_exact_mut(self.sub_len).zip(self.q.chunks_exact(self.sub_len));
        for (s, (o, q)) in subs.enumerate() {
            let dl = self.d * self.scale[s] as f32;
            let ml = self.dmin * self.min[s] as f32;
            for (o, &q) in o.iter_mut().zip(q) {
                *o = dl * q as f32 - ml;
            }
        }
    }

    /// Exact integer sums of a dot with a Q8_K block: (Σ scale·q·x, Σ min·bsum).
    fn int_dot(&self, x: &BlockQ8K) -> (i32, i32) {
        self.int_dot_subs(x, 0..self.n_sub())
    }

    /// The same over the sub-blocks in `subs` only.
    fn int_dot_subs(&self, x: &BlockQ8K, subs: std::ops::Range<usize>) -> (i32, i32) {
        let (mut sum_q, mut sum_m) = (0i32, 0i32);
        let per_bsum = self.sub_len / 16;
        for s in subs {
            let range = s * self.sub_len..(s + 1) * self.sub_len;
            let isum: i32 = self.q[range.clone()].iter().zip(&x.qs[range]).map(|(&a, &b)| a as i32 * b as i32).sum();
            sum_q += self.scale[s] * isum;
            if self.min[s] != 0 {
                let bsum: i32 = (0..per_bsum).map(|k| x.bsum(s * per_bsum + k)).sum();
                sum_m += self.min[s] * bsum;
            }
        }
        (sum_q, sum_m)
    }
}

pub fn decode_q2k(b: &BlockQ2K) -> Decoded {
    let mut o = Decoded::new(16, b.d.to_f32(), b.dmin.to_f32());
    for (s, &sc) in b.scales.iter().enumerate() {
        o.scale[s] = (sc & 0xF) as i32;
        o.min[s] = (sc >> 4) as i32;
    }
    // Element 128·n + 32·j + l is bits 2j..2j+1 of qs[32·n + l].
    for n in 0..2 {
        for j in 0..4 {
            for l in 0..32 {
                o.q[128 * n + 32 * j + l] = ((b.qs[32 * n + l] >> (2 * j)) & 3) as i8;
            }
        }
    }
    o
}

pub fn decode_q3k(b: &BlockQ3K) -> Decoded {
    let mut o = Decoded::new(16, b.d.to_f32(), 0.0);
    for (s, sc) in q3k_scales(&b.scales).into_iter().enumerate() {
        o.scale[s] = sc as i32;
    }
    for n in 0..2 {
        for j in 0..4 {
            let hbit = 1u8 << (4 * n + j);
            for l in 0..32 {
                let low = ((b.qs[32 * n + l] >> (2 * j)) & 3) as i8;
                let high = if b.hmask[l] & hbit != 0 { 0 } else { 4 };
                o.q[128 * n + 32 * j + l] = low - high;
            }
        }
    }
    o
}

/// A Q4_K/Q5_K block's shell: eight 32-element sub-blocks with packed 6-bit scales and mins.
fn k4_shell(d: f32, dmin: f32, scales: &[u8; 12]) -> Decoded {
    let mut o = Decoded::new(32, d, dmin);
    for s in 0..8 {
        let (sc, m) = scale_min_k4(s, scales);
        o.scale[s] = sc as i32;
        o.min[s] = m as i32;
    }
    o
}

pub fn decode_q4k(b: &BlockQ4K) -> Decoded {
    let mut o = k4_shell(b.d.to_f32(), b.dmin.to_f32(), &b.scales);
    for j in 0..4 {
        for l in 0..32 {
            o.q[64 * j + l] = (b.qs[32 * j + l] & 0xF) as i8;
            o.q[64 * j + 32 + l] = (b.qs[32 * j + l] >> 4) as i8;
        }
    }
    o
}

pub fn decode_q5k(b: &BlockQ5K) -> Decoded {
    let mut o = k4_shell(b.d.to_f32(), b.dmin.to_f32(), &b.scales);
    for j in 0..4 {
        let (u1, u2) = (1u8 << (2 * j), 2u8 << (2 * j));
        for l in 0..32 {
            let hi1 = if b.qh[l] & u1 != 0 { 16 } else { 0 };
            let hi2 = if b.qh[l] & u2 != 0 { 16 } else { 0 };
            o.q[64 * j + l] = ((b.qs[32 * j + l] & 0xF) + hi1) as i8;
            o.q[64 * j + 32 + l] = ((b.qs[32 * j + l] >> 4) + hi2) as i8;
        }
    }
    o
}

pub fn decode_q6k(b: &BlockQ6K) -> Decoded {
    let mut o = Decoded::new(16, b.d.to_f32(), 0.0);
    for (s, &sc) in b.scales.iter().enumerate() {
        o.scale[s] = sc as i32;
    }
    for n in 0..2 {
        let (ql, qh) = (&b.ql[64 * n..64 * n + 64], &b.qh[32 * n..32 * n + 32]);
        let y = &mut o.q[128 * n..128 * n + 128];
        for l in 0..32 {
            y[l] = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
            y[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            y[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            y[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
        }
    }
    o
}

pub fn dequant<B>(blocks: &[B], decode: fn(&B) -> Decoded, out: &mut [f32]) {
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
        decode(b).dequant(o);
    }
}

/// Per super-block: exact integer sums, then one FMA each into the scaled and the min
/// accumulator (the f32 order of ggml's repacked K-quant kernels).
pub fn dot<B>(w: &[B], x: &[BlockQ8K], decode: fn(&B) -> Decoded) -> f32 {
    let (mut acc, mut acc_min) = (0.0f32, 0.0f32);
    for (w, x) in w.iter().zip(x) {
        let d = decode(w);
        let (q, m) = d.int_dot(x);
        let dx = x.scale();
        acc = (q as f32).mul_add(d.d * dx, acc);
        acc_min = (m as f32).mul_add(d.dmin * dx, acc_min);
    }
    acc - acc_min
}

/// What ggml's repacked GEMM computes (Q4_K rows in groups of four): one FMA per 64 elements.
pub fn dot_gemm<B>(w: &[B], x: &[BlockQ8K], decode: fn(&B) -> Decoded) -> f32 {
    let (mut acc, mut acc_min) = (0.0f32, 0.0f32);
    for (w, x) in w.iter().zip(x) {
        let d = decode(w);
        let per_64 = 64 / d.sub_len;
        let (ds, dm) = (d.d * x.scale(), d.dmin * x.scale());
        for j in 0..QK_K / 64 {
            let (q, m) = d.int_dot_subs(x, j * per_64..(j + 1) * per_64);
            acc = (q as f32).mul_add(ds, acc);
            acc_min = (m as f32).mul_add(dm, acc_min);
        }
    }
    acc - acc_min
}

/// What ggml's tiled K-quant kernel computes for batches (`ggml-cpu/tiled`): per block the
/// exact integer sums, `d·s1 − dmin·s2` with one fused multiply-add, then scaled by the
/// activation's scale and summed in plain f32.
pub fn dot_tiled<B>(w: &[B], x: &[BlockQ8K], decode: fn(&B) -> Decoded) -> f32 {
    let mut acc = 0.0f32;
    for (w, x) in w.iter().zip(x) {
        let d = decode(w);
        let (q, m) = d.int_dot(x);
        let r = (-d.dmin).mul_add(m as f32, d.d * q as f32);
        acc += r * x.scale();
    }
    acc
}

pub fn dequant_q8k(b: &[BlockQ8K], out: &mut [f32]) {
    for (b, o) in b.iter().zip(out.chunks_exact_mut(QK_K)) {
        let d = b.scale();
        for (o, &q) in o.iter_mut().zip(&b.qs) {
            *o = d * q as f32;
        }
    }
}

pub fn dot_q8k(w: &[BlockQ8K], x: &[BlockQ8K]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, x)| {
            let isum: i32 = w.qs.iter().zip(&x.qs).map(|(&a, &b)| a as i32 * b as i32).sum();
            w.scale() * x.scale() * isum as f32
        })
        .sum()
}

/// ggml's `quantize_row_q8_K_ref` (also what its x86 path calls): the signed max maps to
/// −127 and rounding is ggml's `nearest_int` (half to even).
pub fn quantize_q8k(x: &[f32], out: &mut [BlockQ8K]) {
    for (xb, b) in x.chunks_exact(QK_K).zip(out) {
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            *b = BlockQ8K { d: [0; 4], qs: [0; QK_K], bsums: [[0; 2]; 16] };
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            // |iscale · v| ≤ 127 (a rounding above it is clamped).
            *q = (super::legacy::round_half_even(iscale * v) as i32).min(127) as i8;
        }
        for (j, s) in b.bsums.iter_mut().enumerate() {
            let sum: i32 = b.qs[16 * j..16 * j + 16].iter().map(|&q| q as i32).sum();
            *s = (sum as i16).to_le_bytes();
        }
        b.d = (1.0 / iscale).to_le_bytes();
    }
}

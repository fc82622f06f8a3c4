//! Causal self-attention over the KV cache, with grouped-query heads and sliding windows.
//!
//! Two numeric paths, chosen as ggml's CPU flash attention chooses them, because greedy parity
//! with llama.cpp depends on it:
//! - fewer than `TILED_MIN_QUERIES` query rows (decode, short prompts): Q is rounded to f16 for
//!   the dot with the f16 keys, softmax is computed online, and V·softmax is accumulated in
//!   **f16** (ggml's `VKQ16`), then normalised in f32;
//! - more rows (long prompts, perplexity): everything in f32 (ggml's tiled kernel).

use half::f16;

use super::kv_cache::KvRows;
use super::pool;
use super::{vec, SumOrder};

/// ggml's `GGML_FA_TILE_Q`: from this many query rows on, its tiled f32 kernel runs.
pub const TILED_MIN_QUERIES: usize = 64;

pub struct AttentionShape {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Keys a query at position p sees: p - window < k ≤ p. `None`: all of 0..=p.
    pub window: Option<usize>,
    /// Multiplier on QKᵀ (1 when Q was already scaled).
    pub scale: f32,
}

/// out[t] = softmax(q[t]·Kᵀ · scale) · V for query rows at positions `pos0 + t`.
/// `kv` is the sequence's view of the layer's cache and must hold positions up to the last
/// query. `SumOrder::BatchInvariant` takes the few-rows path whatever the number of rows.
pub fn attention(q: &[f32], kv: KvRows, pos0: usize, s: &AttentionShape, order: SumOrder, out: &mut [f32]) {
    let (hd, kv_dim) = (s.head_dim, s.n_head_kv * s.head_dim);
    let group = s.n_head / s.n_head_kv;
    let n_q = q.len() / (s.n_head * hd);
    if n_q >= TILED_MIN_QUERIES && order == SumOrder::Fastest {
        // Every query reads the same rows: widen the cache to f32 once, not once per query.
        let n_pos = pos0 + n_q;
        let widen =
            |rows: &mut dyn Iterator<Item = &[f16]>| -> Vec<f32> { rows.flatten().map(|v| v.to_f32()).collect() };
        let (k32, v32) = (widen(&mut (0..n_pos).map(|p| kv.key(p))), widen(&mut (0..n_pos).map(|p| kv.value(p))));
        pool::for_each_chunk_mut(out, hd, |i, out_h| {
            let (t, h) = (i / s.n_head, i % s.n_head);
            let pos = pos0 + t;
            let first = s.window.map_or(0, |w| (pos + 1).saturating_sub(w));
            let kv_off = (h / group) * hd;
            let k_rows = (first..=pos).map(|p| &k32[p * kv_dim + kv_off..p * kv_dim + kv_off + hd]);
            let v_rows = (first..=pos).map(|p| &v32[p * kv_dim + kv_off..p * kv_dim + kv_off + hd]);
            head_f32(&q[i * hd..(i + 1) * hd], k_rows, v_rows, s.scale, out_h);
        });
        return;
    }
    pool::for_each_chunk_mut(out, hd, |i, out_h| {
        let (t, h) = (i / s.n_head, i % s.n_head);
        let pos = pos0 + t;
        let first = s.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        let kv_off = (h / group) * hd;
        let qh = &q[i * hd..(i + 1) * hd];
        let k_rows = (first..=pos).map(|p| &kv.key(p)[kv_off..kv_off + hd]);
        let v_rows = (first..=pos).map(|p| &kv.value(p)[kv_off..kv_off + hd]);
        head_f16_online(qh, k_rows, v_rows, s.scale, out_h);
    });
}

/// f32 scores, softmax and accumulation.
fn head_f32<'a>(
    q: &[f32],
    keys: impl Iterator<Item = &'a [f32]>,
    values: impl Iterator<Item = &'a [f32]>,
    scale: f32,
    out: &mut [f32],
) {
    let mut scores: Vec<f32> = keys.map(|k| vec::dot(q, k) * scale).collect();
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for s in &mut scores {
        *s = (*s - max).exp();
        sum += *s;
    }
    out.fill(0.0);
    for (v, &w) in values.zip(&scores) {
        vec::axpy(out, w, v);
    }
    vec::scale(out, 1.0 / sum);
}

/// ggml's one-chunk flash attention with f16 V: online softmax, f16 accumulator.
fn head_f16_online<'a>(
    q: &[f32],
    keys: impl Iterator<Item = &'a [f16]>,
    values: impl Iterator<Item = &'a [f16]>,
    scale: f32,
    out: &mut [f32],
) {
    let mut q16 = vec![f16::ZERO; q.len()];
    vec::to_f16(&mut q16, q);
    let mut acc = vec![f16::ZERO; q.len()];
    let (mut sum, mut max) = (0.0f32, f32::NEG_INFINITY);
    for (k, v) in keys.zip(values) {
        let s = vec::dot_f16(&q16, k) * scale;
        let (mut ms, mut vs) = (1.0f32, 1.0f32);
        if s > max {
            ms = (max - s).exp();
            max = s;
            vec::scale_f16(&mut acc, ms);
        } else {
            vs = (s - max).exp();
        }
        vec::mad_f16(&mut acc, v, vs);
        sum = sum * ms + vs;
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = a.to_f32() * inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::kv_blocks::{row_of, KV_BLOCK};

    fn f16s(v: &[f32]) -> Vec<f16> {
        v.iter().map(|&x| f16::from_f32(x)).collect()
    }

    /// Naive f64 attention for one query row and head.
    fn naive(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        hd: usize,
        kv_dim: usize,
        off: usize,
        keys: std::ops::RangeInclusive<usize>,
    ) -> Vec<f64> {
        let sc: Vec<f64> =
            keys.clone().map(|p| (0..hd).map(|d| q[d] as f64 * k[p * kv_dim + off + d] as f64).sum()).collect();
        let m = sc.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = sc.iter().map(|s| (s - m).exp()).collect();
        let z: f64 = e.iter().sum();
        (0..hd).map(|d| keys.clone().zip(&e).map(|(p, w)| w / z * v[p * kv_dim + off + d] as f64).sum()).collect()
    }

    /// Both paths (few rows: f16 accumulation; many rows: f32) against f64, with GQA and windows,
    /// the cache's blocks in scrambled order.
    #[test]
    fn gqa_and_window_match_naive_on_both_paths() {
        let (n_head, n_head_kv, hd) = (8, 2, 64);
        let kv_dim = n_head_kv * hd;
        let rnd = |n: usize, s: usize| -> Vec<f32> {
            (0..n).map(|i| (((i * 2654435761 + s) % 1000) as f32 / 500.0) - 1.0).collect()
        };
        for (n, tol) in [(3usize, 2e-3), (TILED_MIN_QUERIES + 1, 1e-4)] {
            let pos0 = 20;
            let n_pos = pos0 + n;
            let (k, v) = (rnd(n_pos * kv_dim, 1), rnd(n_pos * kv_dim, 2));
            let (kh, vh) = (f16s(&k), f16s(&v));
            let (kr, vr): (Vec<f32>, Vec<f32>) =
                (kh.iter().map(|x| x.to_f32()).collect(), vh.iter().map(|x| x.to_f32()).collect());
            // Logical block b lives in physical block n_blocks - 1 - b.
            let n_blocks = n_pos.div_ceil(KV_BLOCK);
            let table: Vec<u32> = (0..n_blocks as u32).rev().collect();
            let scatter = |c: &[f16]| {
                let mut out = vec![f16::NAN; n_blocks * KV_BLOCK * kv_dim];
                for (p, row) in c.chunks_exact(kv_dim).enumerate() {
                    let r = row_of(&table, p);
                    out[r * kv_dim..(r + 1) * kv_dim].copy_from_slice(row);
                }
                out
            };
            let (kp, vp) = (scatter(&kh), scatter(&vh));
            let kv = KvRows { keys: &kp, values: &vp, table: &table, kv_dim };
            for window in [None, Some(5)] {
                let q = rnd(n * n_head * hd, 3);
                let mut out = vec![f32::NAN; q.len()];
                let shape = AttentionShape { n_head, n_head_kv, head_dim: hd, window, scale: 1.0 };
                attention(&q, kv, pos0, &shape, SumOrder::Fastest, &mut out);
                for t in 0..n {
                    for h in 0..n_head {
                        let pos = pos0 + t;
                        let first = window.map_or(0, |w| pos + 1 - w);
                        let i = t * n_head + h;
                        let want = naive(&q[i * hd..(i + 1) * hd], &kr, &vr, hd, kv_dim, (h / 4) * hd, first..=pos);
                        for d in 0..hd {
                            let got = out[i * hd + d] as f64;
                            assert!(
                                (got - want[d]).abs() < tol,
                                "n {n} window {window:?} t {t} h {h} d {d}: {got} vs {}",
                                want[d]
                            );
                        }
                    }
                }
            }
        }
    }
}

//! Attention cases: the decode split kernels against their definition (per-split running max,
//! sum and unnormalised output, in f64), prefill against the CPU engine's `attention`. The
//! caches are paged: their blocks lie shuffled in a pool with spare blocks full of NaN, which a
//! kernel that reads past its table would carry into its output.

use rand::rngs::SmallRng;
use rand::Rng;

use super::{out, q8_1, F16_TOL, F32_TOL};
use crate::tools::parity::inputs::{
    block_table, f16_bytes, f32_bytes, i32_bytes, nonzero, paged, rng, round_f16, scatter, table_bytes, to_f16,
};
use crate::tools::parity::{q8_1_values, Arg, Case, Dtype, Sizes};
use rocmforge::backend::cpu::{attention, AttentionShape, KvRows, SumOrder, TILED_MIN_QUERIES};
use rocmforge::backend::KV_BLOCK;
use rocmforge_codegen::kernels::attn_decode::keys_per_pass;

/// Head counts (n_head, n_head_kv): GQA ratios 4 and 7, and 1 in full runs.
fn heads(sizes: Sizes) -> Vec<(usize, usize)> {
    sizes.pick(&[(8, 2), (7, 1)], &[(4, 4), (8, 2), (7, 1)])
}

/// A random f16 cache of `n_pos` rows of `kv_dim`, as f32 values (exactly representable).
fn cache(r: &mut SmallRng, n_pos: usize, kv_dim: usize) -> Vec<f32> {
    round_f16(&nonzero(r, n_pos * kv_dim))
}

/// Positions a query at `pos` sees.
fn visible(pos: usize, window: usize) -> std::ops::RangeInclusive<usize> {
    let first = if window > 0 { (pos + 1).saturating_sub(window) } else { 0 };
    first..=pos
}

/// A paged pool for a cache of `n_pos` positions: its blocks' table (with spare blocks in the
/// pool) and the pool's row count.
fn pool(r: &mut SmallRng, n_pos: usize) -> (Vec<u32>, usize) {
    let n_blocks = n_pos.div_ceil(KV_BLOCK) + 3;
    (block_table(r, n_pos, n_blocks), n_blocks)
}

/// One head's online-softmax state over cache positions `keys`, in f64: the running max m of
/// the scores q·k·scale, the sum l of exp(score − m), and the unnormalised output Σ exp(score − m)·v.
/// `col` is the head's first column in rows of `kv_dim`. An empty `keys` gives (−inf, 0, zeros).
pub fn softmax_partial(
    qh: &[f32],
    k: &[f32],
    v: &[f32],
    kv_dim: usize,
    col: usize,
    keys: &[usize],
    scale: f32,
) -> (f64, f64, Vec<f64>) {
    let d = qh.len();
    let scores: Vec<f64> = keys
        .iter()
        .map(|&p| qh.iter().zip(&k[p * kv_dim + col..]).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>() * scale as f64)
        .collect();
    let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
    let o = (0..d).map(|j| keys.iter().zip(&weights).map(|(&p, w)| w * v[p * kv_dim + col + j] as f64).sum()).collect();
    (m, weights.iter().sum(), o)
}

/// (kv_len, n_splits, window) for each head configuration, one query token; and tokens of
/// three sequences in one launch. The splits: one; fewer than the passes (several passes a
/// workgroup); more than the passes (empty splits, as for a short query in a long context).
pub fn decode_cases(key: &str, d: usize, sizes: Sizes) -> Vec<Case> {
    let runs = sizes.pick(
        &[(1029, 5, 0), (1029, 5, 300)],
        &[(1, 4, 0), (17, 1, 0), (512, 64, 0), (4096, 7, 0), (4096, 64, 1000), (1029, 3, 300)],
    );
    let mut cases: Vec<Case> = heads(sizes)
        .into_iter()
        .flat_map(|(n_head, n_head_kv)| {
            runs.iter().map(move |&(kv_len, n_splits, window)| {
                let label = format!("{key} heads {n_head}/{n_head_kv} kv {kv_len} {n_splits} splits window {window}");
                decode(&label, d, n_head, n_head_kv, &[kv_len], n_splits, window)
            })
        })
        .collect();
    let kv_lens = [700, 17, 1029];
    let label = format!("{key} heads 8/2 3 sequences kv {kv_lens:?} 9 splits");
    cases.push(decode(&label, d, 8, 2, &kv_lens, 9, 0));
    cases
}

/// The positions split `s` of `n_splits` covers for a query that sees `seen` (attn_decode's
/// rule: equal stretches of whole passes).
fn split_keys(seen: &std::ops::RangeInclusive<usize>, s: usize, n_splits: usize, d: usize) -> std::ops::Range<usize> {
    let pass = keys_per_pass(d as u32) as usize;
    let (first, end) = (*seen.start(), *seen.end() + 1);
    let chunk = (end - first).div_ceil(n_splits).div_ceil(pass) * pass;
    let lo = (first + s * chunk).min(end);
    lo..(lo + chunk).min(end)
}

/// Token t queries the last position of sequence n - 1 - t, which holds `kv_lens[t]` positions.
fn decode(
    label: &str,
    d: usize,
    n_head: usize,
    n_head_kv: usize,
    kv_lens: &[usize],
    n_splits: usize,
    window: usize,
) -> Case {
    let mut r = rng(label);
    let (kv_dim, n) = (n_head_kv * d, kv_lens.len());
    let seq_of = |t: usize| n - 1 - t;
    let caches: Vec<(Vec<f32>, Vec<f32>)> =
        kv_lens.iter().map(|&len| (cache(&mut r, len, kv_dim), cache(&mut r, len, kv_dim))).collect();
    let q = nonzero(&mut r, n * n_head * d);
    // One pool for all: the sequences' blocks shuffled among three spares full of NaN.
    let blocks: Vec<usize> = kv_lens.iter().map(|l| l.div_ceil(KV_BLOCK)).collect();
    let n_blocks = blocks.iter().sum::<usize>() + 3;
    let all = block_table(&mut r, n_blocks * KV_BLOCK, n_blocks);
    let stride = *blocks.iter().max().expect("a token");
    let mut tables = vec![u32::MAX; n * stride];
    let (mut k_pool, mut v_pool) =
        (vec![f32::NAN; n_blocks * KV_BLOCK * kv_dim], vec![f32::NAN; n_blocks * KV_BLOCK * kv_dim]);
    let mut next = all.iter().copied();
    for (t, (k, v)) in caches.iter().enumerate() {
        let table: Vec<u32> = next.by_ref().take(blocks[t]).collect();
        scatter(&mut k_pool, k, kv_dim, &table);
        scatter(&mut v_pool, v, kv_dim, &table);
        tables[seq_of(t) * stride..seq_of(t) * stride + table.len()].copy_from_slice(&table);
    }
    let scale = 1.0 / (d as f32).sqrt();
    let n_ctx = *kv_lens.iter().max().expect("a token");
    let parts = n * n_head * n_splits;
    let (mut part_o, mut part_ml) = (vec![0.0f32; parts * d], vec![0.0f32; parts * 2]);
    for (t, &kv_len) in kv_lens.iter().enumerate() {
        let (k, v) = &caches[t];
        let seen = visible(kv_len - 1, window);
        for h in 0..n_head {
            let col = (h / (n_head / n_head_kv)) * d;
            let qh = &q[(t * n_head + h) * d..(t * n_head + h + 1) * d];
            for s in 0..n_splits {
                let keys: Vec<usize> = split_keys(&seen, s, n_splits, d).collect();
                let (m, l, o) = softmax_partial(qh, k, v, kv_dim, col, &keys, scale);
                let slot = (t * n_head + h) * n_splits + s;
                part_ml[slot * 2] = m as f32;
                part_ml[slot * 2 + 1] = l as f32;
                for (dst, src) in part_o[slot * d..(slot + 1) * d].iter_mut().zip(o) {
                    *dst = src as f32;
                }
            }
        }
    }
    let positions: Vec<i32> = kv_lens.iter().map(|&l| l as i32 - 1).collect();
    let seqs: Vec<i32> = (0..n).map(|t| seq_of(t) as i32).collect();
    Case {
        label: label.into(),
        args: vec![
            ("part_o", out(part_o, F32_TOL)),
            ("part_ml", out(part_ml, F32_TOL)),
            ("q", Arg::Input(f32_bytes(&q))),
            ("k_cache", Arg::Input(f16_bytes(&k_pool))),
            ("v_cache", Arg::Input(f16_bytes(&v_pool))),
            ("kv_tables", Arg::Input(table_bytes(&tables))),
            ("q_pos", Arg::Input(i32_bytes(&positions))),
            ("q_seq", Arg::Input(i32_bytes(&seqs))),
            ("n_head_kv", Arg::I32(n_head_kv as i32)),
            ("n_head", Arg::I32(n_head as i32)),
            ("window", Arg::I32(window as i32)),
            ("scale", Arg::F32(scale)),
            ("n_ctx", Arg::I32(n_ctx as i32)),
            ("kv_rows", Arg::I32((n_blocks * KV_BLOCK) as i32)),
            ("n_seq", Arg::I32(n as i32)),
            ("table_stride", Arg::I32(stride as i32)),
        ],
        dims: vec![("n_splits", n_splits as u64), ("n_tokens", n as u64)],
    }
}

pub fn reduce_cases(key: &str, d: usize, sizes: Sizes) -> Vec<Case> {
    sizes.pick(&[5], &[1, 5, 16]).into_iter().map(|n_splits| reduce(key, d, n_splits)).collect()
}

fn reduce(key: &str, d: usize, n_splits: usize) -> Case {
    let label = format!("{key} 8 heads x {n_splits} splits");
    let mut r = rng(&label);
    let n_head = 8;
    let part_o = nonzero(&mut r, n_head * n_splits * d);
    let mut part_ml = Vec::with_capacity(n_head * n_splits * 2);
    for i in 0..n_head * n_splits {
        // Split 1 of every head is empty (outside the window): m = -inf, l = 0.
        let (m, l) =
            if i % n_splits == 1 { (f32::NEG_INFINITY, 0.0) } else { (r.gen_range(-4.0..4.0), r.gen_range(1.0..50.0)) };
        part_ml.extend([m, l]);
    }
    let mut reference = vec![0.0f32; n_head * d];
    for h in 0..n_head {
        let ml = &part_ml[h * n_splits * 2..(h + 1) * n_splits * 2];
        let m = ml.iter().step_by(2).map(|&m| m as f64).fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> =
            ml.iter().step_by(2).map(|&ms| if ms == f32::NEG_INFINITY { 0.0 } else { (ms as f64 - m).exp() }).collect();
        let l: f64 = w.iter().zip(ml.iter().skip(1).step_by(2)).map(|(w, &l)| w * l as f64).sum();
        for (j, o) in reference[h * d..(h + 1) * d].iter_mut().enumerate() {
            *o = (w.iter().enumerate().map(|(s, w)| w * part_o[(h * n_splits + s) * d + j] as f64).sum::<f64>() / l)
                as f32;
        }
    }
    // The quantized copy: a few quanta off where out's last bits move a value across a rounding
    // boundary (as rmsnorm_add's).
    let (blocks, _) = q8_1(&reference);
    Case {
        label,
        args: vec![
            ("out", out(reference, F32_TOL)),
            ("xq", Arg::Output { reference: q8_1_values(&blocks), dtype: Dtype::Q8_1, tolerance: 5e-3 }),
            ("part_o", Arg::Input(f32_bytes(&part_o))),
            ("part_ml", Arg::Input(f32_bytes(&part_ml))),
            ("n_splits", Arg::I32(n_splits as i32)),
        ],
        dims: vec![("n_head", n_head as u64)],
    }
}

/// (n_tokens, pos0, window) for each head configuration.
pub fn prefill_cases(key: &str, d: usize, sizes: Sizes) -> Vec<Case> {
    let runs =
        sizes.pick(&[(17, 13, 0), (70, 13, 40)], &[(1, 0, 0), (17, 13, 0), (512, 0, 0), (512, 100, 128), (4096, 0, 0)]);
    heads(sizes)
        .into_iter()
        .flat_map(|(n_head, n_head_kv)| {
            runs.iter().map(move |&(n_tokens, pos0, window)| {
                let label = format!("{key} heads {n_head}/{n_head_kv} tokens {n_tokens} at {pos0} window {window}");
                prefill(&label, d, (n_head, n_head_kv), (n_tokens, pos0, window))
            })
        })
        .collect()
}

/// One prompt of `run` = (n_tokens, pos0, window) for `heads` = (n_head, n_head_kv).
fn prefill(label: &str, d: usize, heads: (usize, usize), run: (usize, usize, usize)) -> Case {
    let ((n_head, n_head_kv), (n_tokens, pos0, window)) = (heads, run);
    let mut r = rng(label);
    let kv_dim = n_head_kv * d;
    let n_pos = pos0 + n_tokens;
    let (k, v) = (cache(&mut r, n_pos, kv_dim), cache(&mut r, n_pos, kv_dim));
    let q = nonzero(&mut r, n_tokens * n_head * d);
    let (table, n_blocks) = pool(&mut r, n_pos);
    let (kp, vp) = (paged(&k, kv_dim, &table, n_blocks, f32::NAN), paged(&v, kv_dim, &table, n_blocks, f32::NAN));
    let scale = 1.0 / (d as f32).sqrt();
    let shape = AttentionShape { n_head, n_head_kv, head_dim: d, window: (window > 0).then_some(window), scale };
    let mut reference = vec![0.0f32; q.len()];
    let (k16, v16) = (to_f16(&kp), to_f16(&vp));
    let kv = KvRows { keys: &k16, values: &v16, table: &table, kv_dim };
    attention(&q, kv, pos0, &shape, SumOrder::Fastest, &mut reference);
    // Below TILED_MIN_QUERIES rows the CPU rounds Q to f16 and accumulates V in f16, as
    // llama.cpp's CPU flash attention does. Every target multiplies on its matrix unit with Q and
    // P rounded to f16, as llama.cpp's CUDA flash attention does (errors of 2e-4 measured on an
    // H200 against the f32 CPU).
    let tolerance = if n_tokens < TILED_MIN_QUERIES { 2e-3 } else { F16_TOL };
    Case {
        label: label.into(),
        args: vec![
            ("out", out(reference, tolerance)),
            ("q", Arg::Input(f32_bytes(&q))),
            ("k_cache", Arg::Input(f16_bytes(&kp))),
            ("v_cache", Arg::Input(f16_bytes(&vp))),
            ("kv_table", Arg::Input(table_bytes(&table))),
            ("n_tokens", Arg::I32(n_tokens as i32)),
            ("n_head_kv", Arg::I32(n_head_kv as i32)),
            ("n_head", Arg::I32(n_head as i32)),
            ("pos0", Arg::I32(pos0 as i32)),
            ("window", Arg::I32(window as i32)),
            ("scale", Arg::F32(scale)),
            ("kv_rows", Arg::I32((n_blocks * KV_BLOCK) as i32)),
        ],
        dims: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decode splits (the reference's copy of the kernel's rule) cover every position a query
    /// sees exactly once, in order, each split a whole number of passes but the last non-empty one.
    #[test]
    fn decode_splits_partition_the_visible_keys() {
        for (kv_len, window, n_splits, d) in [
            (1, 0, 4, 128),
            (17, 0, 1, 128),
            (4096, 0, 16, 128),
            (4096, 1000, 64, 64),
            (1029, 300, 3, 256),
            (100, 0, 57, 64),
        ] {
            let pass = keys_per_pass(d as u32) as usize;
            let seen = visible(kv_len - 1, window);
            let splits: Vec<_> = (0..n_splits).map(|s| split_keys(&seen, s, n_splits, d)).collect();
            let covered: Vec<usize> = splits.iter().flat_map(|r| r.clone()).collect();
            assert_eq!(covered, seen.clone().collect::<Vec<_>>(), "kv {kv_len} window {window} splits {n_splits}");
            let used = splits.iter().filter(|r| !r.is_empty()).count();
            assert!(splits[..used.saturating_sub(1)].iter().all(|r| r.len() % pass == 0));
        }
    }
}

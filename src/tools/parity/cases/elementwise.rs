//! Cases for the element-wise and row-wise kernels: norms, rope, activations, softmax, the KV
//! cache store, argmax and sampling.

use rand::rngs::SmallRng;
use rand::Rng;

use super::{out, F16_TOL, F32_TOL};
use crate::tools::parity::cases::q8_1;
use crate::tools::parity::inputs::{
    block_table, f16_bytes, f32_bytes, i32_bytes, nonzero, rng, round_f16, table_bytes,
};
use crate::tools::parity::{q8_1_values, Arg, Case, Dtype};
use rocmforge::backend::cpu::{ops, vec};
use rocmforge::backend::{row_of, KV_BLOCK};
use rocmforge::engine::sampler::{self, SamplerConfig};
use rocmforge::model::RopeKind;
use rocmforge_codegen::Variant;

pub fn rmsnorm(label: &str, rows: usize, n: usize) -> Case {
    let mut r = rng(label);
    let (x, w) = (nonzero(&mut r, rows * n), nonzero(&mut r, n));
    let mut y = vec![0.0; rows * n];
    for (yr, xr) in y.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        ops::rmsnorm(yr, xr, &w, 1e-6);
    }
    Case {
        label: label.into(),
        args: vec![
            ("y", out(y, F32_TOL)),
            ("x", Arg::Input(f32_bytes(&x))),
            ("w", Arg::Input(f32_bytes(&w))),
            ("n", Arg::I32(n as i32)),
            ("eps", Arg::F32(1e-6)),
        ],
        dims: vec![("n_rows", rows as u64)],
    }
}

pub fn rmsnorm_add(label: &str, rows: usize, n: usize) -> Case {
    let mut r = rng(label);
    let (h, res, w) = (nonzero(&mut r, rows * n), nonzero(&mut r, rows * n), nonzero(&mut r, n));
    let mut sum = h.clone();
    vec::add_assign(&mut sum, &res);
    let mut y = vec![0.0; rows * n];
    for (yr, hr) in y.chunks_exact_mut(n).zip(sum.chunks_exact(n)) {
        ops::rmsnorm(yr, hr, &w, 1e-5);
    }
    // The GPU's y differs from the f64-summed reference in the last bits, which can move a
    // value across a quantum's rounding boundary: a few quanta of error, not bit equality.
    let (blocks, _) = q8_1(&y);
    Case {
        label: label.into(),
        args: vec![
            ("y", out(y, F32_TOL)),
            ("xq", Arg::Output { reference: q8_1_values(&blocks), dtype: Dtype::Q8_1, tolerance: 5e-3 }),
            ("h", Arg::InOut { initial: f32_bytes(&h), reference: sum, dtype: Dtype::F32, tolerance: F32_TOL }),
            ("r", Arg::Input(f32_bytes(&res))),
            ("w", Arg::Input(f32_bytes(&w))),
            ("n", Arg::I32(n as i32)),
            ("eps", Arg::F32(1e-5)),
        ],
        dims: vec![("n_rows", rows as u64)],
    }
}

/// `tokens` consecutive positions from `pos0`.
pub fn rope(label: &str, variant: &Variant, tokens: usize, pos0: usize) -> Case {
    let (head_dim, n_heads) = (variant.int("head_dim") as usize, 3);
    let kind = if variant.word("mode") == "neox" { RopeKind::Neox } else { RopeKind::Normal };
    let positions: Vec<i32> = (pos0..pos0 + tokens).map(|p| p as i32).collect();
    let (base, freq_scale) = (10_000.0f32, 1.0f32);
    let theta_scale = base.powf(-2.0 / head_dim as f32);
    let mut r = rng(label);
    let x = nonzero(&mut r, positions.len() * n_heads * head_dim);
    let mut reference = x.clone();
    for (t, token) in reference.chunks_exact_mut(n_heads * head_dim).enumerate() {
        let angles = ops::rope_angles(positions[t] as usize, head_dim, base, freq_scale, None);
        for head in token.chunks_exact_mut(head_dim) {
            ops::rope(head, &angles, kind);
        }
    }
    Case {
        label: label.into(),
        args: vec![
            ("x", Arg::InOut { initial: f32_bytes(&x), reference, dtype: Dtype::F32, tolerance: F32_TOL }),
            ("pos", Arg::Input(i32_bytes(&positions))),
            ("factors", Arg::Null),
            ("n_heads", Arg::I32(n_heads as i32)),
            ("n_rot", Arg::I32(head_dim as i32)),
            ("theta_scale", Arg::F32(theta_scale)),
            ("freq_scale", Arg::F32(freq_scale)),
        ],
        dims: vec![("n_tokens", positions.len() as u64)],
    }
}

pub fn glu(label: &str, act: &str, n: usize) -> Case {
    let mut r = rng(label);
    let (gate, up) = (nonzero(&mut r, n), nonzero(&mut r, n));
    let reference: Vec<f32> = match act {
        // The exact GELU, not the CPU path's f16 lookup table (a llama.cpp CPU quirk).
        "gelu" => gate.iter().zip(&up).map(|(&g, &u)| ops::gelu_tanh(g) * u).collect(),
        _ => {
            let mut g = gate.clone();
            ops::swiglu(&mut g, &up);
            g
        }
    };
    Case {
        label: label.into(),
        args: vec![
            ("out", out(reference, 1e-4)),
            ("gate", Arg::Input(f32_bytes(&gate))),
            ("up", Arg::Input(f32_bytes(&up))),
            ("n", Arg::I32(n as i32)),
        ],
        dims: vec![],
    }
}

pub fn softmax(label: &str, rows: usize, n: usize, scale: f32) -> Case {
    let mut r = rng(label);
    let x: Vec<f32> = nonzero(&mut r, rows * n).iter().map(|v| v * 8.0).collect();
    let mut reference: Vec<f32> = x.iter().map(|v| v * scale).collect();
    for row in reference.chunks_exact_mut(n) {
        ops::softmax(row);
    }
    Case {
        label: label.into(),
        args: vec![
            ("y", out(reference, F32_TOL)),
            ("x", Arg::Input(f32_bytes(&x))),
            ("n", Arg::I32(n as i32)),
            ("scale", Arg::F32(scale)),
        ],
        dims: vec![("n_rows", rows as u64)],
    }
}

pub fn argmax(label: &str, rows: usize, n: usize, tie: bool) -> Case {
    let mut r: SmallRng = rng(label);
    let mut x = nonzero(&mut r, rows * n);
    if tie {
        // Two equal maxima: the lower index must win, as in the CPU sampler.
        let (a, b) = (r.gen_range(0..n / 2), r.gen_range(n / 2..n));
        x[a] = 2.0;
        x[b] = 2.0;
    }
    let reference: Vec<f32> = x.chunks_exact(n).map(|row| sampler::argmax(row) as f32).collect();
    Case {
        label: label.into(),
        args: vec![
            ("out", Arg::Output { reference, dtype: Dtype::I32, tolerance: 0.0 }),
            ("x", Arg::Input(f32_bytes(&x))),
            ("n", Arg::I32(n as i32)),
        ],
        dims: vec![("n_rows", rows as u64)],
    }
}

pub fn sample(label: &str, rows: usize, n: usize, cfg: SamplerConfig) -> Case {
    let mut r = rng(label);
    // Logits spread over ±12 so that top-p and min-p both cut somewhere inside the top-k.
    let logits: Vec<f32> = nonzero(&mut r, rows * n).iter().map(|v| v * 12.0).collect();
    let draws: Vec<f32> = (0..rows).map(|_| r.gen_range(0.0..1.0)).collect();
    let reference: Vec<f32> =
        logits.chunks_exact(n).zip(&draws).map(|(row, &u)| sampler::pick(row, &cfg, u) as f32).collect();
    Case {
        label: label.into(),
        args: vec![
            ("out", Arg::Output { reference, dtype: Dtype::I32, tolerance: 0.0 }),
            ("logits", Arg::Input(f32_bytes(&logits))),
            ("idx", Arg::Null),
            ("r", Arg::Input(f32_bytes(&draws))),
            ("n", Arg::I32(n as i32)),
            ("top_k", Arg::I32(cfg.top_k as i32)),
            ("top_p", Arg::F32(cfg.top_p)),
            ("min_p", Arg::F32(cfg.min_p)),
            ("temperature", Arg::F32(cfg.temperature)),
        ],
        dims: vec![("n_rows", rows as u64)],
    }
}

pub fn add_rows(label: &str, rows: usize, n: usize) -> Case {
    let mut r = rng(label);
    let (x, b) = (nonzero(&mut r, rows * n), nonzero(&mut r, n));
    let mut reference = x.clone();
    reference.chunks_exact_mut(n).for_each(|row| vec::add_assign(row, &b));
    Case {
        label: label.into(),
        args: vec![
            ("x", Arg::InOut { initial: f32_bytes(&x), reference, dtype: Dtype::F32, tolerance: 0.0 }),
            ("b", Arg::Input(f32_bytes(&b))),
            ("n", Arg::I32(n as i32)),
        ],
        dims: vec![("n_tokens", rows as u64)],
    }
}

pub fn to_f16(label: &str, n: usize) -> Case {
    let mut r = rng(label);
    let x: Vec<f32> = nonzero(&mut r, n).iter().map(|v| v * 1000.0).collect();
    Case {
        label: label.into(),
        args: vec![
            ("out", Arg::Output { reference: round_f16(&x), dtype: Dtype::F16, tolerance: 0.0 }),
            ("x", Arg::Input(f32_bytes(&x))),
            ("n", Arg::I64(n as i64)),
        ],
        dims: vec![],
    }
}

/// Q rotated in place; K rotated and stored with V in f16, tokens alternating between two
/// sequences: the even ones at positions from `pos0` of sequence 1, the odd ones from 0 of
/// sequence 0.
pub fn rope_kv(label: &str, variant: &Variant, tokens: usize, pos0: usize, n_head: usize, n_head_kv: usize) -> Case {
    let head_dim = variant.int("head_dim") as usize;
    let kind = if variant.word("mode") == "neox" { RopeKind::Neox } else { RopeKind::Normal };
    let positions: Vec<i32> = (0..tokens).map(|t| (t / 2 + if t % 2 == 0 { pos0 } else { 0 }) as i32).collect();
    let seqs: Vec<i32> = (0..tokens).map(|t| 1 - (t % 2) as i32).collect();
    let (n_rot, base, freq_scale) = (head_dim - 16, 10_000.0f32, 0.5f32);
    let theta_scale = base.powf(-2.0 / n_rot as f32);
    let (kv_dim, n_ctx) = (n_head_kv * head_dim, pos0 + tokens + 2);
    let mut r = rng(label);
    let q = nonzero(&mut r, tokens * n_head * head_dim);
    let (k, v) = (nonzero(&mut r, tokens * kv_dim), nonzero(&mut r, tokens * kv_dim));
    // The cache is paged: the sequences' blocks lie shuffled in a pool with two spare blocks.
    let stride = n_ctx.div_ceil(KV_BLOCK);
    let n_blocks = 2 * stride + 2;
    let tables = block_table(&mut r, 2 * stride * KV_BLOCK, n_blocks);
    let kv_rows = n_blocks * KV_BLOCK;
    let (k_old, v_old) = (round_f16(&nonzero(&mut r, kv_rows * kv_dim)), round_f16(&nonzero(&mut r, kv_rows * kv_dim)));
    let rotate = |x: &[f32], width: usize| {
        let mut y = x.to_vec();
        for (t, token) in y.chunks_exact_mut(width).enumerate() {
            let angles = ops::rope_angles(positions[t] as usize, n_rot, base, freq_scale, None);
            token.chunks_exact_mut(head_dim).for_each(|h| ops::rope(h, &angles, kind));
        }
        y
    };
    let stored = |old: &[f32], new: &[f32]| {
        let mut c = old.to_vec();
        for (t, row) in round_f16(new).chunks_exact(kv_dim).enumerate() {
            let (p, s) = (positions[t] as usize, seqs[t] as usize);
            let at = row_of(&tables[s * stride..(s + 1) * stride], p);
            c[at * kv_dim..(at + 1) * kv_dim].copy_from_slice(row);
        }
        c
    };
    let cache = |old: &[f32], reference| Arg::InOut {
        initial: f16_bytes(old),
        reference,
        dtype: Dtype::F16,
        tolerance: F16_TOL,
    };
    Case {
        label: label.into(),
        args: vec![
            (
                "q",
                Arg::InOut {
                    initial: f32_bytes(&q),
                    reference: rotate(&q, n_head * head_dim),
                    dtype: Dtype::F32,
                    tolerance: F32_TOL,
                },
            ),
            ("k_cache", cache(&k_old, stored(&k_old, &rotate(&k, kv_dim)))),
            ("v_cache", cache(&v_old, stored(&v_old, &v))),
            ("kv_tables", Arg::Input(table_bytes(&tables))),
            ("k", Arg::Input(f32_bytes(&k))),
            ("v", Arg::Input(f32_bytes(&v))),
            ("pos", Arg::Input(i32_bytes(&positions))),
            ("seq", Arg::Input(i32_bytes(&seqs))),
            ("factors", Arg::Null),
            ("n_head", Arg::I32(n_head as i32)),
            ("n_head_kv", Arg::I32(n_head_kv as i32)),
            ("n_rot", Arg::I32(n_rot as i32)),
            ("n_ctx", Arg::I32(n_ctx as i32)),
            ("kv_rows", Arg::I32(kv_rows as i32)),
            ("n_seq", Arg::I32(2)),
            ("table_stride", Arg::I32(stride as i32)),
            ("theta_scale", Arg::F32(theta_scale)),
            ("freq_scale", Arg::F32(freq_scale)),
        ],
        dims: vec![("n_heads_all", (n_head + n_head_kv) as u64), ("n_tokens", tokens as u64)],
    }
}

/// Each 4096-logit slice's top-k, sorted by (logit descending, index ascending).
pub fn topk(label: &str, rows: usize, n: usize, top_k: usize) -> Case {
    let mut r = rng(label);
    let logits: Vec<f32> = nonzero(&mut r, rows * n).iter().map(|v| v * 12.0).collect();
    let slice = rocmforge_codegen::kernels::topk::SLICE as usize;
    let (mut cand_v, mut cand_i) = (Vec::new(), Vec::new());
    for row in logits.chunks_exact(n) {
        for (s, part) in row.chunks(slice).enumerate() {
            let mut c: Vec<(usize, f32)> = part.iter().enumerate().map(|(i, &v)| (s * slice + i, v)).collect();
            c.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            c.extend((part.len()..top_k).map(|i| (s * slice + i, f32::NEG_INFINITY)));
            c.truncate(top_k);
            cand_v.extend(c.iter().map(|x| x.1));
            cand_i.extend(c.iter().map(|x| x.0 as f32));
        }
    }
    Case {
        label: label.into(),
        args: vec![
            ("cand_v", Arg::Output { reference: cand_v, dtype: Dtype::F32, tolerance: 0.0 }),
            ("cand_i", Arg::Output { reference: cand_i, dtype: Dtype::I32, tolerance: 0.0 }),
            ("logits", Arg::Input(f32_bytes(&logits))),
            ("n", Arg::I32(n as i32)),
            ("top_k", Arg::I32(top_k as i32)),
        ],
        dims: vec![("n_rows", rows as u64)],
    }
}

//! Parity cases per kernel family: inputs, launch sizes and the CPU reference's outputs.

use rand::rngs::SmallRng;
use rand::Rng;
use rocmforge_codegen::catalog::Family;
use rocmforge_codegen::{Quant, Variant};

use super::inputs::{f16_bytes, f32_bytes, ggml_type, i32_bytes, nonzero, quant_blocks, rng, round_f16};
use super::{Arg, Case, Dtype};
use crate::backend::cpu::{ops, vec};
use crate::engine::sampler;
use crate::model::RopeKind;
use crate::quant;

/// f32 kernels whose only difference from the CPU is summation order and approximate
/// exp/rsqrt instructions.
const F32_TOL: f64 = 1e-5;
/// Outputs stored as f16 (2^-11 relative rounding).
const F16_TOL: f64 = 1e-3;

fn out(reference: Vec<f32>, tolerance: f64) -> Arg {
    Arg::Output { reference, dtype: Dtype::F32, tolerance }
}

/// The cases of `variant` (empty for a family without cases, which the harness reports).
pub fn cases_for(family: &Family, variant: &Variant) -> Vec<Case> {
    let label = |what: &str| format!("{} {what}", variant.key());
    match family.name {
        "rmsnorm" => vec![rmsnorm(&label("7x2048"), 7, 2048), rmsnorm(&label("1x4097"), 1, 4097)],
        "rmsnorm_add" => vec![rmsnorm_add(&label("3x1543"), 3, 1543)],
        "rope" => vec![rope(&label("5 tokens x 3 heads"), variant)],
        "glu" => vec![glu(&label("4097"), variant.word("act"), 4097)],
        "softmax" => vec![softmax(&label("3x4097"), 3, 4097, 0.5)],
        "matvec" => {
            let q = variant.quant().expect("matvec has a quant axis");
            vec![matvec(&label("7x4096"), q, 7, 4096), matvec(&label("257x2048"), q, 257, 2048)]
        }
        "dequant" => vec![dequant(&label("3x4096"), variant.quant().expect("dequant has a quant axis"), 3 * 4096)],
        "kv_append" => vec![kv_append(&label("3 tokens of 519 at 5"), 519, 3, 5, 16)],
        "argmax" => vec![argmax(&label("2x262151"), 2, 262_151, false), argmax(&label("tie"), 1, 4097, true)],
        _ => Vec::new(),
    }
}

fn rmsnorm(label: &str, rows: usize, n: usize) -> Case {
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

fn rmsnorm_add(label: &str, rows: usize, n: usize) -> Case {
    let mut r = rng(label);
    let (h, res, w) = (nonzero(&mut r, rows * n), nonzero(&mut r, rows * n), nonzero(&mut r, n));
    let mut sum = h.clone();
    vec::add_assign(&mut sum, &res);
    let mut y = vec![0.0; rows * n];
    for (yr, hr) in y.chunks_exact_mut(n).zip(sum.chunks_exact(n)) {
        ops::rmsnorm(yr, hr, &w, 1e-5);
    }
    Case {
        label: label.into(),
        args: vec![
            ("y", out(y, F32_TOL)),
            ("h", Arg::InOut { initial: f32_bytes(&h), reference: sum, dtype: Dtype::F32, tolerance: F32_TOL }),
            ("r", Arg::Input(f32_bytes(&res))),
            ("w", Arg::Input(f32_bytes(&w))),
            ("n", Arg::I32(n as i32)),
            ("eps", Arg::F32(1e-5)),
        ],
        dims: vec![("n_rows", rows as u64)],
    }
}

fn rope(label: &str, variant: &Variant) -> Case {
    let (head_dim, n_heads) = (variant.int("head_dim") as usize, 3);
    let kind = if variant.word("mode") == "neox" { RopeKind::Neox } else { RopeKind::Normal };
    let positions = [0i32, 1, 17, 511, 4095];
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

fn glu(label: &str, act: &str, n: usize) -> Case {
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

fn softmax(label: &str, rows: usize, n: usize, scale: f32) -> Case {
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

fn dequantized(q: Quant, blocks: &[u8], n: usize) -> Vec<f32> {
    let mut w = vec![0.0; n];
    quant::dequantize_row(ggml_type(q), blocks, &mut w).expect("every GPU format dequantizes on the CPU");
    w
}

fn matvec(label: &str, q: Quant, rows: usize, cols: usize) -> Case {
    let mut r = rng(label);
    let blocks = quant_blocks(&mut r, q, rows * cols);
    let w = dequantized(q, &blocks, rows * cols);
    let x = nonzero(&mut r, cols);
    let y: Vec<f32> = w.chunks_exact(cols).map(|row| row.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>() as f32).collect();
    Case {
        label: label.into(),
        args: vec![
            ("y", out(y, F32_TOL)),
            ("w", Arg::Input(blocks)),
            ("x", Arg::Input(f32_bytes(&x))),
            ("n_cols", Arg::I32(cols as i32)),
            ("n_rows", Arg::I32(rows as i32)),
        ],
        dims: vec![],
    }
}

fn dequant(label: &str, q: Quant, n: usize) -> Case {
    let mut r = rng(label);
    let blocks = quant_blocks(&mut r, q, n);
    let reference = round_f16(&dequantized(q, &blocks, n));
    Case {
        label: label.into(),
        args: vec![
            ("out", Arg::Output { reference, dtype: Dtype::F16, tolerance: F16_TOL }),
            ("w", Arg::Input(blocks)),
            ("n_sub", Arg::I64((n / 32) as i64)),
        ],
        dims: vec![],
    }
}

fn kv_append(label: &str, kv_dim: usize, n_tokens: usize, pos0: usize, n_ctx: usize) -> Case {
    let mut r = rng(label);
    let (k_old, v_old) = (round_f16(&nonzero(&mut r, n_ctx * kv_dim)), round_f16(&nonzero(&mut r, n_ctx * kv_dim)));
    let (k, v) = (nonzero(&mut r, n_tokens * kv_dim), nonzero(&mut r, n_tokens * kv_dim));
    let stored = |old: &[f32], new: &[f32]| {
        let mut c = old.to_vec();
        c[pos0 * kv_dim..(pos0 + n_tokens) * kv_dim].copy_from_slice(&round_f16(new));
        c
    };
    // Exact: the rows are rounded to f16 once, the other positions must be left alone.
    let cache = |old: &[f32], reference| Arg::InOut { initial: f16_bytes(old), reference, dtype: Dtype::F16, tolerance: 0.0 };
    Case {
        label: label.into(),
        args: vec![
            ("k_cache", cache(&k_old, stored(&k_old, &k))),
            ("v_cache", cache(&v_old, stored(&v_old, &v))),
            ("k", Arg::Input(f32_bytes(&k))),
            ("v", Arg::Input(f32_bytes(&v))),
            ("kv_dim", Arg::I32(kv_dim as i32)),
            ("pos0", Arg::I32(pos0 as i32)),
        ],
        dims: vec![("n_tokens", n_tokens as u64)],
    }
}

fn argmax(label: &str, rows: usize, n: usize, tie: bool) -> Case {
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

//! Cases for the kernels that read weights: quantized mat-vec (plain, for several tokens, and
//! fused with the gated activation) and the q8_1 quantization of its activations, dequantization to f16 and the f16
//! GEMM; and for their yardsticks, the matrix rate and the read rate.

use rocmforge_codegen::Quant;

use super::{out, F16_TOL, F32_TOL};
use crate::tools::parity::inputs::{f16_bytes, f32_bytes, ggml_type, i32_bytes, nonzero, quant_blocks, rng, round_f16};
use crate::tools::parity::{q8_1_values, Arg, Case, Dtype};
use rand::Rng;
use rocmforge::backend::cpu::ops;
use rocmforge::gguf::GgmlType;
use rocmforge::quant;

pub fn dequantized(q: Quant, blocks: &[u8], n: usize) -> Vec<f32> {
    let mut w = vec![0.0; n];
    quant::dequantize_row(ggml_type(q), blocks, &mut w).expect("every GPU format dequantizes on the CPU");
    w
}

/// W x for dequantized rows of `cols`, accumulated in f64.
pub fn mat_vec(w: &[f32], x: &[f32], cols: usize) -> Vec<f32> {
    w.chunks_exact(cols).map(|row| row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>() as f32).collect()
}

/// `x` quantized to q8_1 by the CPU's quantizer: the blocks' bytes and their dequantized values,
/// which the mat-vec references multiply in f64 (so only the kernel's summation differs).
pub fn q8_1(x: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let mut blocks = vec![0u8; x.len() / 32 * size_of::<rocmforge::quant::blocks::BlockQ8_1>()];
    quant::quantize_row(GgmlType::Q8_1, x, &mut blocks).expect("x is whole blocks");
    let mut values = vec![0.0; x.len()];
    quant::dequantize_row(GgmlType::Q8_1, &blocks, &mut values).expect("q8_1 dequantizes");
    (blocks, values)
}

pub fn quantize_q8_1(label: &str, rows: usize, cols: usize) -> Case {
    let x = nonzero(&mut rng(label), rows * cols);
    // Rows are whole blocks, so quantizing them one by one is quantizing them all at once.
    let (blocks, _) = q8_1(&x);
    Case {
        label: label.into(),
        args: vec![
            ("xq", Arg::Output { reference: q8_1_values(&blocks), dtype: Dtype::Q8_1, tolerance: 0.0 }),
            ("x", Arg::Input(f32_bytes(&x))),
            ("n_cols", Arg::I32(cols as i32)),
            ("n_rows", Arg::I32(rows as i32)),
        ],
        dims: vec![],
    }
}

/// matvec_batch's case for one token, without the token count.
pub fn matvec(label: &str, q: Quant, rows: usize, cols: usize) -> Case {
    let mut case = matvec_batch(label, q, 1, rows, cols);
    case.args.retain(|(name, _)| *name != "n_tokens");
    case
}

/// `tokens` rows of activations, each times the same matrix.
pub fn matvec_batch(label: &str, q: Quant, tokens: usize, rows: usize, cols: usize) -> Case {
    let mut r = rng(label);
    let blocks = quant_blocks(&mut r, q, rows * cols);
    let (xq, x) = q8_1(&nonzero(&mut r, tokens * cols));
    let w = dequantized(q, &blocks, rows * cols);
    let y: Vec<f32> = x.chunks_exact(cols).flat_map(|xt| mat_vec(&w, xt, cols)).collect();
    Case {
        label: label.into(),
        args: vec![
            ("y", out(y, F32_TOL)),
            ("w", Arg::Input(blocks)),
            ("xq", Arg::Input(xq)),
            ("n_cols", Arg::I32(cols as i32)),
            ("n_rows", Arg::I32(rows as i32)),
            ("n_tokens", Arg::I32(tokens as i32)),
        ],
        dims: vec![],
    }
}

/// Up to three matrices (`rows` each; 0 for an absent one) times one input.
pub fn matvec_multi(label: &str, q: Quant, rows: [usize; 3], cols: usize) -> Case {
    let mut r = rng(label);
    let (xq, x) = q8_1(&nonzero(&mut r, cols));
    let mut args = Vec::new();
    let mut weights = Vec::new();
    for ((y, w), n) in [("y_a", "w_a"), ("y_b", "w_b"), ("y_c", "w_c")].into_iter().zip(rows) {
        let blocks = quant_blocks(&mut r, q, n * cols);
        let reference = if n == 0 { Vec::new() } else { mat_vec(&dequantized(q, &blocks, n * cols), &x, cols) };
        args.push((y, out(reference, F32_TOL)));
        weights.push((w, Arg::Input(blocks)));
    }
    args.extend(weights);
    args.push(("xq", Arg::Input(xq)));
    args.push(("n_cols", Arg::I32(cols as i32)));
    for (name, n) in ["rows_a", "rows_b", "rows_c"].into_iter().zip(rows) {
        args.push((name, Arg::I32(n as i32)));
    }
    Case { label: label.into(), args, dims: vec![] }
}

pub fn matvec_glu(label: &str, q: Quant, act: &str, rows: usize, cols: usize) -> Case {
    let mut r = rng(label);
    let (gate_w, up_w) = (quant_blocks(&mut r, q, rows * cols), quant_blocks(&mut r, q, rows * cols));
    let (xq, x) = q8_1(&nonzero(&mut r, cols));
    let mut gate = mat_vec(&dequantized(q, &gate_w, rows * cols), &x, cols);
    let up = mat_vec(&dequantized(q, &up_w, rows * cols), &x, cols);
    match act {
        "gelu" => gate.iter_mut().zip(&up).for_each(|(g, &u)| *g = ops::gelu_tanh(*g) * u),
        _ => ops::swiglu(&mut gate, &up),
    }
    Case {
        label: label.into(),
        args: vec![
            ("y", out(gate, 1e-4)),
            ("w_gate", Arg::Input(gate_w)),
            ("w_up", Arg::Input(up_w)),
            ("xq", Arg::Input(xq)),
            ("n_cols", Arg::I32(cols as i32)),
            ("n_rows", Arg::I32(rows as i32)),
        ],
        dims: vec![],
    }
}

pub fn dequant(label: &str, q: Quant, n: usize) -> Case {
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

/// c[m][n] = Σ a[m][k] · w[n][k] on f16 inputs, accumulated in f64; its columns cut into
/// outputs of `split` = (n_b, n_c) columns after the first n - n_b - n_c (each row-major). The
/// split-K work buffer comes poisoned; its counters must be left at zero.
pub fn gemm(label: &str, m: usize, n: usize, k: usize, (n_b, n_c): (usize, usize)) -> Case {
    let mut r = rng(label);
    let (a, w) = (round_f16(&nonzero(&mut r, m * k)), round_f16(&nonzero(&mut r, n * k)));
    let mut c = vec![0.0f32; m * n];
    for (i, row) in c.chunks_exact_mut(n).enumerate() {
        let ar = &a[i * k..(i + 1) * k];
        for (j, out) in row.iter_mut().enumerate() {
            *out = ar.iter().zip(&w[j * k..(j + 1) * k]).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>() as f32;
        }
    }
    let n_a = n - n_b - n_c;
    let columns = |from: usize, width: usize| -> Vec<f32> {
        c.chunks_exact(n).flat_map(|row| row[from..from + width].iter().copied()).collect()
    };
    Case {
        label: label.into(),
        args: vec![
            ("c", out(columns(0, n_a), F32_TOL)),
            ("c_b", out(columns(n_a, n_b), F32_TOL)),
            ("c_c", out(columns(n_a + n_b, n_c), F32_TOL)),
            ("a", Arg::Input(f16_bytes(&a))),
            ("w", Arg::Input(f16_bytes(&w))),
            ("partials", Arg::Work { zeroed: false }),
            ("counters", Arg::Work { zeroed: true }),
            ("m", Arg::I32(m as i32)),
            ("n", Arg::I32(n as i32)),
            ("k", Arg::I32(k as i32)),
            ("n_b", Arg::I32(n_b as i32)),
            ("n_c", Arg::I32(n_c as i32)),
        ],
        dims: vec![],
    }
}

/// The matrix-rate kernel: every workgroup's element is `reps` times the f16 dot of a and b
/// (`mma_peak::K` long), accumulated in f64.
pub fn mma_peak(label: &str, n_groups: usize, reps: usize) -> Case {
    let mut r = rng(label);
    let k = rocmforge_codegen::kernels::mma_peak::K as usize;
    let (a, b) = (round_f16(&nonzero(&mut r, k)), round_f16(&nonzero(&mut r, k)));
    let dot: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
    Case {
        label: label.into(),
        args: vec![
            ("c", out(vec![(dot * reps as f64) as f32; n_groups], F32_TOL)),
            ("a", Arg::Input(f16_bytes(&a))),
            ("b", Arg::Input(f16_bytes(&b))),
            ("reps", Arg::I32(reps as i32)),
        ],
        dims: vec![("n_groups", n_groups as u64)],
    }
}

/// The read-rate kernel: workgroup g's XOR of the 16-byte words it reads
/// (`read_peak::WORDS_PER_GROUP` a workgroup, those below `n`). The words are below 2^16, so the
/// XOR is exact as the harness's f32 reference.
pub fn read_peak(label: &str, n: usize) -> Case {
    let mut r = rng(label);
    let words: Vec<u32> = (0..4 * n).map(|_| r.gen_range(0..1 << 16)).collect();
    let group = 4 * rocmforge_codegen::kernels::read_peak::WORDS_PER_GROUP as usize;
    let reference = words.chunks(group).map(|g| g.iter().fold(0, |x, &w| x ^ w) as f32).collect();
    Case {
        label: label.into(),
        args: vec![
            ("x", Arg::Output { reference, dtype: Dtype::I32, tolerance: 0.0 }),
            ("words", Arg::Input(words.iter().flat_map(|w| w.to_le_bytes()).collect())),
            ("n", Arg::I64(n as i64)),
        ],
        dims: vec![],
    }
}

/// Rows `ids` of a quantized table of `cols`-wide rows, dequantized and scaled.
pub fn embed(label: &str, q: Quant, n_vocab: usize, cols: usize, ids: &[i32]) -> Case {
    let mut r = rng(label);
    let blocks = quant_blocks(&mut r, q, n_vocab * cols);
    let table = dequantized(q, &blocks, n_vocab * cols);
    let scale = 1.5;
    let row = |id: i32| match usize::try_from(id).ok().filter(|&i| i < n_vocab) {
        Some(i) => table[i * cols..(i + 1) * cols].iter().map(|v| v * scale).collect(),
        None => vec![0.0; cols],
    };
    let reference: Vec<f32> = ids.iter().flat_map(|&id| row(id)).collect();
    Case {
        label: label.into(),
        args: vec![
            ("out", out(reference, F32_TOL)),
            ("w", Arg::Input(blocks)),
            ("ids", Arg::Input(i32_bytes(ids))),
            ("n_cols", Arg::I32(cols as i32)),
            ("n_vocab", Arg::I32(n_vocab as i32)),
            ("scale", Arg::F32(scale)),
        ],
        dims: vec![("n_tokens", ids.len() as u64)],
    }
}

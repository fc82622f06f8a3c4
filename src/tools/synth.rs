//! Random-weight llama models of real shapes, written straight in a quantized format, to measure
//! engines side by side on the GPU machine (both read the same file). The quantized blocks are
//! random (`parity::inputs::quant_blocks`: every bit pattern valid) and scaled as an initialised
//! network's (`initialised_blocks`), the norms
//! are ones, and the tokenizer is copied from a vocabulary-only GGUF, so any engine that loads
//! a llama model loads it. The F16-then-quantize route takes minutes and a llama.cpp build there;
//! this takes seconds.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;
use rocmforge::gguf::{GgmlType, Gguf, GgufWriter, Value};
use rocmforge_codegen::Quant;

use rocmforge::quant::dequantize_row;

use super::parity::inputs::{ggml_type, quant_blocks, rng, scale_quant_blocks};

/// A model shape (head_dim = n_embd / n_head: 64 for llama-1b, 128 for llama-8b).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_ff: usize,
}

/// The shapes of `synth_llama.py`, which the llama.cpp figures in the issues were measured on.
pub const SHAPES: [(&str, Shape); 3] = [
    ("llama-1b", Shape { n_embd: 2048, n_layer: 16, n_head: 32, n_head_kv: 8, n_ff: 8192 }),
    ("llama-8b", Shape { n_embd: 4096, n_layer: 32, n_head: 32, n_head_kv: 8, n_ff: 14336 }),
    ("tiny", Shape { n_embd: 256, n_layer: 2, n_head: 4, n_head_kv: 2, n_ff: 512 }),
];

/// How the tensors are quantized, as `llama-quantize` would: one format for the matrices (or a
/// K-quant "medium" mix), Q6_K for the output matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Every matrix, the token embeddings included, in one format.
    Uniform(Quant),
    /// Q4_K, with attn_v and ffn_down in Q6_K in llama.cpp's "more bits" layers.
    Q4KM,
    /// Q3_K, with attn_output in Q4_K, and attn_v and ffn_down in Q4_K (Q5_K in the first
    /// layers), as `llama-quantize` writes a llama model.
    Q3KM,
}

impl Mix {
    pub fn parse(name: &str) -> Option<Mix> {
        match name.to_ascii_lowercase().as_str() {
            "q4_k_m" => Some(Mix::Q4KM),
            "q3_k_m" => Some(Mix::Q3KM),
            other => other.parse().ok().map(Mix::Uniform),
        }
    }

    /// llama.cpp's `general.file_type` (`llama_ftype`), so a peer reports the right type.
    fn file_type(self) -> u32 {
        match self {
            Mix::Q4KM => 15,
            Mix::Q3KM => 12,
            Mix::Uniform(q) => match q {
                Quant::Q4_0 => 2,
                Quant::Q4_1 => 3,
                Quant::Q8_0 => 7,
                Quant::Q5_0 => 8,
                Quant::Q5_1 => 9,
                Quant::Q2K => 10,
                Quant::Q3K => 11,
                Quant::Q4K => 14,
                Quant::Q5K => 16,
                Quant::Q6K => 18,
                Quant::Mxfp4 => 38,
            },
        }
    }

    /// The format of tensor `name` of layer `il` (of `n_layer`), or of a tensor outside the layers.
    fn quant(self, name: &str, il: Option<usize>, n_layer: usize) -> Quant {
        if name == "output.weight" {
            return Quant::Q6K;
        }
        match self {
            Mix::Uniform(q) => q,
            Mix::Q4KM => match il {
                Some(i) if (name == "attn_v.weight" || name == "ffn_down.weight") && more_bits(i, n_layer) => {
                    Quant::Q6K
                }
                _ => Quant::Q4K,
            },
            Mix::Q3KM => match (name, il) {
                ("attn_v.weight", Some(i)) if i < 2 => Quant::Q5K,
                ("ffn_down.weight", Some(i)) if i < n_layer / 16 => Quant::Q5K,
                ("attn_v.weight" | "ffn_down.weight" | "attn_output.weight", _) => Quant::Q4K,
                _ => Quant::Q3K,
            },
        }
    }
}

/// A layer's matrices: name, columns, rows.
fn layer_matrices(e: usize, q: usize, kv: usize, ff: usize) -> [(&'static str, usize, usize); 7] {
    [
        ("attn_q.weight", e, q),
        ("attn_k.weight", e, kv),
        ("attn_v.weight", e, kv),
        ("attn_output.weight", q, e),
        ("ffn_gate.weight", e, ff),
        ("ffn_up.weight", e, ff),
        ("ffn_down.weight", ff, e),
    ]
}

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers, and every third between.
fn more_bits(i: usize, n: usize) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// Random blocks of a `rows` x `cols` matrix, scaled so that its weights' root mean square is
/// about 1/sqrt(cols), as an initialised network's: activations keep their size
/// through the layers and the logits stay moderate, so perplexity and KL divergence mean
/// something (with the random scales alone the logits are so large that llama.cpp's perplexity
/// is inf).
fn initialised_blocks(name: &str, q: Quant, cols: usize, rows: usize) -> Vec<u8> {
    let mut blocks = quant_blocks(&mut rng(name), q, cols * rows);
    let sample_rows = rows.min(16);
    let mut weights = vec![0.0f32; sample_rows * cols];
    let sample = &blocks[..sample_rows * cols / q.block_elems() as usize * q.block_bytes() as usize];
    dequantize_row(ggml_type(q), sample, &mut weights).expect("every format synth writes dequantizes");
    let mean_square = weights.iter().map(|w| f64::from(*w).powi(2)).sum::<f64>() / weights.len() as f64;
    let factor = 1.0 / ((cols as f64).sqrt() * mean_square.sqrt());
    scale_quant_blocks(q, &mut blocks, factor as f32);
    blocks
}

/// Writes a random llama model of `shape` quantized as `mix` to `out`, with the tokenizer of
/// `vocab` (a GGUF holding `tokenizer.*` keys, such as llama.cpp's `ggml-vocab-*.gguf`).
pub fn write_model(shape: &Shape, mix: Mix, vocab: &Gguf, name: &str, out: &Path) -> anyhow::Result<()> {
    let n_vocab = vocab.get_array("tokenizer.ggml.tokens")?.len();
    let head_dim = shape.n_embd / shape.n_head;
    let (e, q, kv, ff) = (shape.n_embd, shape.n_head * head_dim, shape.n_head_kv * head_dim, shape.n_ff);
    let mut w = GgufWriter::new();
    w.meta("general.architecture", Value::String("llama".into()))
        .meta("general.name", Value::String(format!("synthetic {name}")))
        .meta("general.file_type", Value::U32(mix.file_type()))
        .meta("llama.context_length", Value::U32(8192))
        .meta("llama.embedding_length", Value::U32(e as u32))
        .meta("llama.block_count", Value::U32(shape.n_layer as u32))
        .meta("llama.feed_forward_length", Value::U32(ff as u32))
        .meta("llama.attention.head_count", Value::U32(shape.n_head as u32))
        .meta("llama.attention.head_count_kv", Value::U32(shape.n_head_kv as u32))
        .meta("llama.rope.freq_base", Value::F32(500000.0))
        .meta("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5))
        .meta("llama.vocab_size", Value::U32(n_vocab as u32));
    for (k, v) in vocab.metadata().iter().filter(|(k, _)| k.starts_with("tokenizer.")) {
        w.meta(k, v.clone());
    }

    // Matrices (name, format, cols, rows), generated in parallel, then written in file order
    // with the norms (ones) of their layer.
    let matrix = |name: String, short: &str, il: Option<usize>, cols: usize, rows: usize| {
        (name, mix.quant(short, il, shape.n_layer), cols, rows)
    };
    let mut matrices = vec![matrix("token_embd.weight".into(), "token_embd.weight", None, e, n_vocab)];
    for il in 0..shape.n_layer {
        for (t, cols, rows) in layer_matrices(e, q, kv, ff) {
            matrices.push(matrix(format!("blk.{il}.{t}"), t, Some(il), cols, rows));
        }
    }
    matrices.push(matrix("output.weight".into(), "output.weight", None, e, n_vocab));
    let blocks: Vec<Vec<u8>> =
        matrices.par_iter().map(|(name, q, cols, rows)| initialised_blocks(name, *q, *cols, *rows)).collect();
    let ones = || 1.0f32.to_le_bytes().repeat(e);
    for ((name, q, cols, rows), bytes) in matrices.into_iter().zip(blocks) {
        if let Some(layer) = name.strip_suffix(".attn_q.weight") {
            w.tensor(&format!("{layer}.attn_norm.weight"), &[e as u64], GgmlType::F32, ones());
            w.tensor(&format!("{layer}.ffn_norm.weight"), &[e as u64], GgmlType::F32, ones());
        }
        if name == "output.weight" {
            w.tensor("output_norm.weight", &[e as u64], GgmlType::F32, ones());
        }
        w.tensor(&name, &[cols as u64, rows as u64], ggml_type(q), bytes);
    }
    let mut file = BufWriter::new(File::create(out)?);
    w.write_to(&mut file)?;
    file.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_k_m_puts_more_bits_where_llama_cpp_does() {
        // 32 layers: 0-3, 28-31, and 6, 9, ..., 27.
        let layers: Vec<usize> = (0..32).filter(|&i| more_bits(i, 32)).collect();
        assert_eq!(layers, [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
        assert_eq!(Mix::Q4KM.quant("attn_v.weight", Some(6), 32), Quant::Q6K);
        assert_eq!(Mix::Q4KM.quant("attn_v.weight", Some(7), 32), Quant::Q4K);
        assert_eq!(Mix::Q4KM.quant("attn_q.weight", Some(0), 32), Quant::Q4K);
        assert_eq!(Mix::Uniform(Quant::Q4_0).quant("output.weight", None, 32), Quant::Q6K);
        assert_eq!(Mix::parse("Q4_K_M"), Some(Mix::Q4KM));
        assert_eq!(Mix::parse("q4_0"), Some(Mix::Uniform(Quant::Q4_0)));
    }

    #[test]
    fn q3_k_m_mixes_formats_as_llama_cpp_does() {
        assert_eq!(Mix::parse("Q3_K_M"), Some(Mix::Q3KM));
        assert_eq!(Mix::Q3KM.quant("attn_v.weight", Some(1), 32), Quant::Q5K);
        assert_eq!(Mix::Q3KM.quant("attn_v.weight", Some(2), 32), Quant::Q4K);
        assert_eq!(Mix::Q3KM.quant("ffn_down.weight", Some(1), 32), Quant::Q5K);
        assert_eq!(Mix::Q3KM.quant("ffn_down.weight", Some(2), 32), Quant::Q4K);
        assert_eq!(Mix::Q3KM.quant("attn_output.weight", Some(9), 32), Quant::Q4K);
        assert_eq!(Mix::Q3KM.quant("ffn_gate.weight", Some(0), 32), Quant::Q3K);
        assert_eq!(Mix::Q3KM.quant("token_embd.weight", None, 32), Quant::Q3K);
        assert_eq!(Mix::Q3KM.quant("output.weight", None, 32), Quant::Q6K);
    }

    #[test]
    fn weights_are_scaled_as_an_initialised_network() {
        let (cols, rows) = (2048, 32);
        for q in Quant::ALL {
            let blocks = initialised_blocks(&format!("w-{q}"), q, cols, rows);
            let mut w = vec![0.0f32; cols * rows];
            dequantize_row(ggml_type(q), &blocks, &mut w).unwrap();
            let rms = (w.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
            let target = 1.0 / (cols as f64).sqrt();
            // MXFP4 scales by a power of two: within a factor of sqrt(2).
            let tolerance = if q == Quant::Mxfp4 { 0.42 } else { 0.1 };
            assert!((rms / target - 1.0).abs() < tolerance, "{q}: rms {rms:.5}, wanted {target:.5}");
        }
    }
}

//! Helpers shared by the integration tests: synthetic models and the reference fixtures.
#![allow(dead_code)]

use std::path::PathBuf;

use rocmforge::gguf::{Array, GgmlType, GgufWriter, Value};

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// The test model (Gemma 3 270M Q4_K_M), fetched into the cache on first use.
pub fn test_model() -> PathBuf {
    rocmforge::fetch::default_model()
        .unwrap_or_else(|e| panic!("the test model is needed and could not be fetched: {e}"))
}

/// Whether the CPU's kernel simulator can compile its bundles here (it needs clang); if not, says
/// so (a failure where CI requires the toolchain).
pub fn simulator_available() -> bool {
    use rocmforge_codegen::toolchain::{default_cache_root, Toolchain};
    match Toolchain::discover(&default_cache_root()).check(rocmforge_codegen::Host::Cpu) {
        Ok(()) => true,
        Err(e) => {
            assert!(std::env::var_os("ROCMFORGE_REQUIRE_TOOLCHAIN").is_none(), "{e}");
            eprintln!("skipped: the kernel simulator needs clang: {e}");
            false
        }
    }
}

/// Deterministic pseudo-random values in [-scale, scale), never all zero.
pub fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()
}

/// Random blocks of a K-quant, which the CPU does not quantize to: random bytes, every bit
/// pattern of which is a valid block but for its f16 scales. d is set so that the weights are
/// about a quarter of `scale` (at `scale`, the CPU's coarser activations, Q8_K against the GPU's
/// q8_1, take its logits 4.5 % from the GPU's through the layers; at a quarter, 2 %, as the
/// other formats'); dmin, where there is one, so that the weights centre on 0 (with all-positive
/// weights the logits share a large common part, and a wrong dot product hides under it).
fn random_k_blocks(ty: GgmlType, n_weights: usize, seed: u64, scale: f32) -> Vec<u8> {
    let block = ty.block_bytes();
    // Where d and dmin sit, the quants' mean (dmin / d centres the weights), and the spread
    // of the weights in units of d.
    let (d_at, dmin_at, mean_q, spread) = match ty {
        GgmlType::Q2K => (block - 4, Some(block - 2), 1.5, 14.0),
        GgmlType::Q3K => (block - 2, None, 0.0, 40.0),
        GgmlType::Q4K => (0, Some(2), 7.5, 260.0),
        GgmlType::Q5K => (0, Some(2), 15.5, 520.0),
        GgmlType::Q6K => (block - 2, None, 0.0, 1200.0),
        other => panic!("{other:?}: quantize it with quant::quantize_row"),
    };
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut out: Vec<u8> = (0..n_weights / ty.block_len() * block)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 56) as u8
        })
        .collect();
    let d = scale / 4.0 / spread;
    for b in out.chunks_exact_mut(block) {
        b[d_at..d_at + 2].copy_from_slice(&half::f16::from_f32(d).to_le_bytes());
        if let Some(at) = dmin_at {
            b[at..at + 2].copy_from_slice(&half::f16::from_f32(d * mean_q).to_le_bytes());
        }
    }
    out
}

/// ‖a − b‖ / ‖b‖.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

/// Shape of a synthetic model.
pub struct Synth {
    pub arch: &'static str,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub sliding_window: Option<usize>,
    pub matrix_type: GgmlType,
}

impl Synth {
    pub fn tiny(arch: &'static str) -> Self {
        Synth {
            arch,
            n_vocab: 96,
            n_embd: 64,
            n_layer: 2,
            n_head: 4,
            n_head_kv: 2,
            head_dim: 32,
            n_ff: 128,
            sliding_window: None,
            matrix_type: GgmlType::F16,
        }
    }

    /// The synthetic model, loaded.
    pub fn model(&self) -> rocmforge::model::Model {
        let g = rocmforge::gguf::Gguf::from_bytes(self.build().to_bytes()).expect("synthetic GGUF parses");
        rocmforge::model::Model::from_gguf(g).expect("synthetic model loads")
    }

    /// A complete GGUF (metadata, a byte-level vocabulary, random weights).
    pub fn build(&self) -> GgufWriter {
        let mut w = GgufWriter::new();
        let a = self.arch;
        let k = |s: &str| format!("{a}.{s}");
        w.meta("general.architecture", Value::String(a.into()))
            .meta("general.name", Value::String(format!("synthetic {a}")))
            .meta(&k("context_length"), Value::U32(256))
            .meta(&k("embedding_length"), Value::U32(self.n_embd as u32))
            .meta(&k("block_count"), Value::U32(self.n_layer as u32))
            .meta(&k("feed_forward_length"), Value::U32(self.n_ff as u32))
            .meta(&k("attention.head_count"), Value::U32(self.n_head as u32))
            .meta(&k("attention.head_count_kv"), Value::U32(self.n_head_kv as u32))
            .meta(&k("attention.key_length"), Value::U32(self.head_dim as u32))
            .meta(&k("attention.value_length"), Value::U32(self.head_dim as u32))
            .meta(&k("attention.layer_norm_rms_epsilon"), Value::F32(1e-6))
            .meta(&k("rope.freq_base"), Value::F32(10000.0));
        if let Some(win) = self.sliding_window {
            w.meta(&k("attention.sliding_window"), Value::U32(win as u32));
        }
        self.vocab(&mut w);

        let seed = std::cell::Cell::new(1u64);
        let next = || {
            seed.set(seed.get() + 1);
            seed.get()
        };
        let (e, q, kv, ff) = (self.n_embd, self.n_head * self.head_dim, self.n_head_kv * self.head_dim, self.n_ff);
        let matrix = |w: &mut GgufWriter, name: &str, cols: usize, rows: usize| {
            let scale = 0.5 / (cols as f32).sqrt() * 3.0;
            let v = values(cols * rows, next(), scale);
            let data = match self.matrix_type {
                GgmlType::F32 => f32_bytes(&v),
                GgmlType::F16 => f16_bytes(&v),
                ty @ (GgmlType::Q2K | GgmlType::Q3K | GgmlType::Q4K | GgmlType::Q5K | GgmlType::Q6K) => {
                    random_k_blocks(ty, cols * rows, next(), scale)
                }
                ty => {
                    let mut out = vec![0u8; ty.bytes_for((cols * rows) as u64).expect("block multiple") as usize];
                    rocmforge::quant::quantize_row(ty, &v, &mut out).expect("quantizable type");
                    out
                }
            };
            w.tensor(name, &[cols as u64, rows as u64], self.matrix_type, data);
        };
        let norm = |w: &mut GgufWriter, name: &str, len: usize, seed: u64| {
            let v: Vec<f32> = values(len, seed, 0.2).iter().map(|x| 1.0 + x).collect();
            w.tensor(name, &[len as u64], GgmlType::F32, f32_bytes(&v));
        };
        matrix(&mut w, "token_embd.weight", e, self.n_vocab);
        norm(&mut w, "output_norm.weight", e, 900);
        for il in 0..self.n_layer {
            let n = |s: &str| format!("blk.{il}.{s}");
            norm(&mut w, &n("attn_norm.weight"), e, 1000 + il as u64);
            matrix(&mut w, &n("attn_q.weight"), e, q);
            matrix(&mut w, &n("attn_k.weight"), e, kv);
            matrix(&mut w, &n("attn_v.weight"), e, kv);
            matrix(&mut w, &n("attn_output.weight"), q, e);
            norm(&mut w, &n("ffn_norm.weight"), e, 2000 + il as u64);
            matrix(&mut w, &n("ffn_gate.weight"), e, ff);
            matrix(&mut w, &n("ffn_up.weight"), e, ff);
            matrix(&mut w, &n("ffn_down.weight"), ff, e);
            match a {
                "qwen2" => {
                    for (s, len) in [("attn_q.bias", q), ("attn_k.bias", kv), ("attn_v.bias", kv)] {
                        w.tensor(&n(s), &[len as u64], GgmlType::F32, f32_bytes(&values(len, next(), 0.1)));
                    }
                }
                "gemma3" => {
                    norm(&mut w, &n("attn_q_norm.weight"), self.head_dim, 3000 + il as u64);
                    norm(&mut w, &n("attn_k_norm.weight"), self.head_dim, 4000 + il as u64);
                    norm(&mut w, &n("post_attention_norm.weight"), e, 5000 + il as u64);
                    norm(&mut w, &n("post_ffw_norm.weight"), e, 6000 + il as u64);
                }
                _ => {}
            }
        }
        w
    }

    /// An SPM vocabulary: <unk>, <s>, </s>, the 256 byte tokens would not fit 96 entries,
    /// so printable ASCII pieces fill the rest.
    fn vocab(&self, w: &mut GgufWriter) {
        let mut tokens = vec!["<unk>".to_string(), "<s>".to_string(), "</s>".to_string()];
        let mut types = vec![2i32, 3, 3];
        let mut c = b' ';
        while tokens.len() < self.n_vocab {
            tokens.push(if c == b' ' { "\u{2581}".to_string() } else { (c as char).to_string() });
            types.push(1);
            c += 1;
        }
        let scores: Vec<f32> = (0..self.n_vocab).map(|i| -(i as f32)).collect();
        w.meta("tokenizer.ggml.model", Value::String("llama".into()))
            .meta("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)))
            .meta("tokenizer.ggml.scores", Value::Array(Array::F32(scores)))
            .meta("tokenizer.ggml.token_type", Value::Array(Array::I32(types)))
            .meta("tokenizer.ggml.bos_token_id", Value::U32(1))
            .meta("tokenizer.ggml.eos_token_id", Value::U32(2))
            .meta("tokenizer.ggml.unknown_token_id", Value::U32(0));
    }
}

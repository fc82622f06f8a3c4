//! Hyperparameters read from GGUF metadata (`{arch}.*` keys), with llama.cpp's defaults.

use super::arch::{Activation, Arch, RopeKind};
use super::ModelError;
use crate::gguf::{Gguf, GgufError};

/// Sizes beyond these are no model anyone runs; they catch corrupt headers before any allocation.
const MAX_DIM: usize = 1 << 20;
const MAX_LAYERS: usize = 4096;

#[derive(Debug, Clone)]
pub struct RopeConfig {
    pub kind: RopeKind,
    /// Rotated dimensions per head (`rope.dimension_count`, default head_dim).
    pub n_rot: usize,
    pub freq_base: f32,
    /// Linear scaling: positions are multiplied by this (1 / `rope.scaling.factor`).
    pub freq_scale: f32,
    /// Sliding-window layers may rotate with their own base (Gemma 3: 10 000).
    pub freq_base_swa: f32,
    pub freq_scale_swa: f32,
}

#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub arch: Arch,
    pub name: String,
    pub n_vocab: usize,
    pub n_ctx_train: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub rms_eps: f32,
    pub rope: RopeConfig,
    /// Tokens a sliding-window layer sees (a query at p attends keys at p - window < k ≤ p).
    pub sliding_window: Option<usize>,
    /// Per layer: whether it uses the sliding window.
    pub swa_layers: Vec<bool>,
    /// Multiplier on the token embeddings (Gemma: sqrt(n_embd)).
    pub embd_scale: f32,
    /// Multiplier on Q before QKᵀ.
    pub attn_scale: f32,
    pub final_logit_softcap: Option<f32>,
    pub activation: Activation,
}

impl ModelConfig {
    pub fn from_gguf(g: &Gguf) -> Result<Self, ModelError> {
        let arch_name = g.architecture()?.to_string();
        let arch = Arch::from_name(&arch_name)?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let dim = |k: &str| -> Result<usize, ModelError> { bounded(g, &key(k), g.get_usize(&key(k))?, MAX_DIM) };
        let opt_dim = |k: &str| -> Result<Option<usize>, ModelError> {
            g.opt(&key(k), Gguf::get_usize)?.map(|v| bounded(g, &key(k), v, MAX_DIM)).transpose()
        };
        let opt_f32 = |k: &str| g.opt(&key(k), Gguf::get_f32);

        let n_embd = dim("embedding_length")?;
        let n_layer = bounded(g, &key("block_count"), g.get_usize(&key("block_count"))?, MAX_LAYERS)?;
        let n_head = dim("attention.head_count")?;
        let n_head_kv = opt_dim("attention.head_count_kv")?.unwrap_or(n_head);
        let n_ff = dim("feed_forward_length")?;
        let n_ctx_train = g.get_usize(&key("context_length"))?;
        if n_head == 0 || n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(ModelError::BadHyperparameter(format!(
                "attention.head_count = {n_head} must be a positive multiple of attention.head_count_kv = {n_head_kv}"
            )));
        }
        let head_dim = opt_dim("attention.key_length")?.unwrap_or(n_embd / n_head);
        let v_dim = opt_dim("attention.value_length")?.unwrap_or(head_dim);
        if head_dim == 0 || head_dim % 2 != 0 || v_dim != head_dim {
            return Err(ModelError::BadHyperparameter(format!(
                "head dimensions key {head_dim} / value {v_dim} must be equal and even"
            )));
        }
        let n_rot = opt_dim("rope.dimension_count")?.unwrap_or(head_dim);
        if n_rot > head_dim || n_rot % 2 != 0 {
            return Err(ModelError::BadHyperparameter(format!("rope.dimension_count {n_rot} vs head dim {head_dim}")));
        }
        let rms_eps = opt_f32("attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5);
        let freq_base = opt_f32("rope.freq_base")?.unwrap_or(10_000.0);
        let freq_scale = rope_freq_scale(g, &arch_name)?;

        let sliding_window = opt_dim("attention.sliding_window")?.filter(|&w| w > 0);
        let swa_layers = match (arch, sliding_window) {
            // llama.cpp's set_swa_pattern(6): every sixth layer is global.
            (Arch::Gemma3, Some(_)) => {
                let period = opt_dim("attention.sliding_window_pattern")?.unwrap_or(6).max(1);
                (0..n_layer).map(|il| il % period < period - 1).collect()
            }
            _ => vec![false; n_layer],
        };
        let freq_base_swa = opt_f32("rope.freq_base_swa")?.unwrap_or(10_000.0);

        let (embd_scale, attn_scale) = match arch {
            Arch::Gemma3 => ((n_embd as f32).sqrt(), 1.0 / (head_dim as f32).sqrt()),
            _ => (1.0, 1.0 / (head_dim as f32).sqrt()),
        };
        let final_logit_softcap = opt_f32("final_logit_softcapping")?.filter(|&c| c > 0.0);

        Ok(ModelConfig {
            arch,
            name: g.get_str("general.name").unwrap_or(&arch_name).to_string(),
            n_vocab: vocab_size(g, &arch_name)?,
            n_ctx_train,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            rms_eps,
            rope: RopeConfig {
                kind: arch.rope_kind(),
                n_rot,
                freq_base,
                freq_scale,
                freq_base_swa: if arch == Arch::Gemma3 { freq_base_swa } else { freq_base },
                freq_scale_swa: if arch == Arch::Gemma3 { 1.0 } else { freq_scale },
            },
            sliding_window: if arch == Arch::Gemma3 { sliding_window } else { None },
            swa_layers,
            embd_scale,
            attn_scale,
            final_logit_softcap,
            activation: arch.activation(),
        })
    }

    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Rope base and scale of layer `il`.
    pub fn rope_for_layer(&self, il: usize) -> (f32, f32) {
        if self.swa_layers[il] {
            (self.rope.freq_base_swa, self.rope.freq_scale_swa)
        } else {
            (self.rope.freq_base, self.rope.freq_scale)
        }
    }

    /// The window of layer `il`, if it is a sliding-window layer.
    pub fn window_for_layer(&self, il: usize) -> Option<usize> {
        self.sliding_window.filter(|_| self.swa_layers[il])
    }
}

fn bounded(_g: &Gguf, key: &str, v: usize, max: usize) -> Result<usize, ModelError> {
    if v == 0 || v > max {
        return Err(ModelError::BadHyperparameter(format!("{key} = {v} is out of range (1..={max})")));
    }
    Ok(v)
}

fn rope_freq_scale(g: &Gguf, arch: &str) -> Result<f32, ModelError> {
    let kind_key = format!("{arch}.rope.scaling.type");
    let kind = if g.get(&kind_key).is_some() { g.get_str(&kind_key)? } else { "linear" };
    let factor = g
        .opt(&format!("{arch}.rope.scaling.factor"), Gguf::get_f32)?
        .or(g.opt(&format!("{arch}.rope.scale_linear"), Gguf::get_f32)?)
        .unwrap_or(0.0);
    match kind {
        "none" | "linear" => Ok(if factor == 0.0 { 1.0 } else { 1.0 / factor }),
        other => Err(ModelError::Unsupported(format!("rope scaling type {other:?}"))),
    }
}

fn vocab_size(g: &Gguf, arch: &str) -> Result<usize, ModelError> {
    if let Some(n) = g.opt(&format!("{arch}.vocab_size"), Gguf::get_usize)? {
        return Ok(n);
    }
    match g.get_array("tokenizer.ggml.tokens") {
        Ok(a) => Ok(a.len()),
        Err(GgufError::MissingKey(_)) => Ok(g.tensor_info("token_embd.weight")?.n_rows()),
        Err(e) => Err(e.into()),
    }
}

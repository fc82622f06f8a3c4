//! The model's tensors: names per architecture (llama.cpp's `LLM_TENSOR_*` table), shapes checked
//! against the hyperparameters. Matrices stay in the GGUF memory map; norms and biases, which are
//! small, are converted to f32 once.

use super::arch::Arch;
use super::config::ModelConfig;
use super::ModelError;
use crate::gguf::{GgmlType, Gguf, TensorInfo};

/// A weight matrix in the file: `rows` output features, each a row of `cols` inputs.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub name: String,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    /// Byte range in the file's data (see `Gguf::tensor_bytes`).
    pub info: TensorInfo,
}

/// One layer's tensors: matrices `M` and vectors `V` (in the file and f32 here; a device keeps
/// its own copies in the same shape).
#[derive(Debug)]
pub struct LayerWeights<M = Matrix, V = Vec<f32>> {
    pub attn_norm: V,
    pub wq: M,
    pub wk: M,
    pub wv: M,
    pub wo: M,
    pub bq: Option<V>,
    pub bk: Option<V>,
    pub bv: Option<V>,
    pub q_norm: Option<V>,
    pub k_norm: Option<V>,
    pub attn_post_norm: Option<V>,
    pub ffn_norm: V,
    pub ffn_gate: M,
    pub ffn_up: M,
    pub ffn_down: M,
    pub ffn_post_norm: Option<V>,
}

impl<M, V> LayerWeights<M, V> {
    /// The same layer with every matrix and vector converted (uploaded to a device, say).
    pub fn try_map<M2, V2, E>(
        &self,
        mut matrix: impl FnMut(&M) -> Result<M2, E>,
        mut vector: impl FnMut(&V) -> Result<V2, E>,
    ) -> Result<LayerWeights<M2, V2>, E> {
        let mut opt = |v: &Option<V>| v.as_ref().map(&mut vector).transpose();
        Ok(LayerWeights {
            bq: opt(&self.bq)?,
            bk: opt(&self.bk)?,
            bv: opt(&self.bv)?,
            q_norm: opt(&self.q_norm)?,
            k_norm: opt(&self.k_norm)?,
            attn_post_norm: opt(&self.attn_post_norm)?,
            ffn_post_norm: opt(&self.ffn_post_norm)?,
            attn_norm: vector(&self.attn_norm)?,
            ffn_norm: vector(&self.ffn_norm)?,
            wq: matrix(&self.wq)?,
            wk: matrix(&self.wk)?,
            wv: matrix(&self.wv)?,
            wo: matrix(&self.wo)?,
            ffn_gate: matrix(&self.ffn_gate)?,
            ffn_up: matrix(&self.ffn_up)?,
            ffn_down: matrix(&self.ffn_down)?,
        })
    }

    /// The matrix `t` names, if `t` is a matrix.
    pub fn matrix(&self, t: LayerTensor) -> Option<&M> {
        match t {
            LayerTensor::Wq => Some(&self.wq),
            LayerTensor::Wk => Some(&self.wk),
            LayerTensor::Wv => Some(&self.wv),
            LayerTensor::Wo => Some(&self.wo),
            LayerTensor::FfnGate => Some(&self.ffn_gate),
            LayerTensor::FfnUp => Some(&self.ffn_up),
            LayerTensor::FfnDown => Some(&self.ffn_down),
            _ => None,
        }
    }

    /// The norm or bias `t` names, if `t` is one and the layer has it.
    pub fn vector(&self, t: LayerTensor) -> Option<&V> {
        match t {
            LayerTensor::AttnNorm => Some(&self.attn_norm),
            LayerTensor::FfnNorm => Some(&self.ffn_norm),
            LayerTensor::Bq => self.bq.as_ref(),
            LayerTensor::Bk => self.bk.as_ref(),
            LayerTensor::Bv => self.bv.as_ref(),
            LayerTensor::QNorm => self.q_norm.as_ref(),
            LayerTensor::KNorm => self.k_norm.as_ref(),
            LayerTensor::AttnPostNorm => self.attn_post_norm.as_ref(),
            LayerTensor::FfnPostNorm => self.ffn_post_norm.as_ref(),
            _ => None,
        }
    }
}

/// A tensor of a layer, as the decoder graph names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerTensor {
    AttnNorm,
    Wq,
    Wk,
    Wv,
    Wo,
    Bq,
    Bk,
    Bv,
    QNorm,
    KNorm,
    AttnPostNorm,
    FfnNorm,
    FfnGate,
    FfnUp,
    FfnDown,
    FfnPostNorm,
}

#[derive(Debug)]
pub struct Weights {
    pub token_embd: Matrix,
    pub layers: Vec<LayerWeights>,
    pub output_norm: Vec<f32>,
    /// The LM head; the token embedding itself when the model ties them.
    pub output: Matrix,
    /// Llama 3 rope frequency factors (`rope_freqs.weight`), one per rotated pair.
    pub rope_freqs: Option<Vec<f32>>,
}

struct Loader<'a> {
    g: &'a Gguf,
    cfg: &'a ModelConfig,
}

impl Loader<'_> {
    fn matrix(&self, name: &str, cols: usize, rows: usize) -> Result<Matrix, ModelError> {
        let info = self.g.tensor_info(name)?;
        self.check_shape(info, &[cols, rows])?;
        if !info.ggml_type.is_supported() {
            return Err(ModelError::UnsupportedTensorType { name: name.into(), ty: info.ggml_type });
        }
        Ok(Matrix { name: name.into(), ty: info.ggml_type, rows, cols, info: info.clone() })
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        let info = self.g.tensor_info(name)?;
        self.check_shape(info, &[len])?;
        let mut out = vec![0.0; len];
        crate::quant::dequantize_row(info.ggml_type, self.g.tensor_bytes(info), &mut out)
            .map_err(|e| ModelError::Tensor { name: name.into(), problem: e.to_string() })?;
        Ok(out)
    }

    fn opt_vector(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>, ModelError> {
        if self.g.has_tensor(name) {
            self.vector(name, len).map(Some)
        } else {
            Ok(None)
        }
    }

    fn check_shape(&self, info: &TensorInfo, want: &[usize]) -> Result<(), ModelError> {
        let got: Vec<usize> = info.dims.iter().map(|&d| d as usize).collect();
        let trailing_ones = got.len() > want.len() && got[want.len()..].iter().all(|&d| d == 1);
        if got == want || (trailing_ones && got[..want.len()] == *want) {
            Ok(())
        } else {
            Err(ModelError::Tensor { name: info.name.clone(), problem: format!("shape {got:?}, expected {want:?}") })
        }
    }

    fn layer(&self, il: usize) -> Result<LayerWeights, ModelError> {
        let c = self.cfg;
        let n = |s: &str| format!("blk.{il}.{s}");
        let (embd, q, kv, ff) = (c.n_embd, c.q_dim(), c.kv_dim(), c.n_ff);
        let arch = c.arch;
        let bias = |s: &str, len| if arch.has_qkv_bias() { self.vector(&n(s), len).map(Some) } else { Ok(None) };
        let norm = |s: &str, len, present: bool| if present { self.vector(&n(s), len).map(Some) } else { Ok(None) };
        Ok(LayerWeights {
            attn_norm: self.vector(&n("attn_norm.weight"), embd)?,
            wq: self.matrix(&n("attn_q.weight"), embd, q)?,
            wk: self.matrix(&n("attn_k.weight"), embd, kv)?,
            wv: self.matrix(&n("attn_v.weight"), embd, kv)?,
            wo: self.matrix(&n("attn_output.weight"), q, embd)?,
            bq: bias("attn_q.bias", q)?,
            bk: bias("attn_k.bias", kv)?,
            bv: bias("attn_v.bias", kv)?,
            q_norm: norm("attn_q_norm.weight", c.head_dim, arch.has_qk_norm())?,
            k_norm: norm("attn_k_norm.weight", c.head_dim, arch.has_qk_norm())?,
            attn_post_norm: norm("post_attention_norm.weight", embd, arch.has_post_norms())?,
            ffn_norm: self.vector(&n("ffn_norm.weight"), embd)?,
            ffn_gate: self.matrix(&n("ffn_gate.weight"), embd, ff)?,
            ffn_up: self.matrix(&n("ffn_up.weight"), embd, ff)?,
            ffn_down: self.matrix(&n("ffn_down.weight"), ff, embd)?,
            ffn_post_norm: norm("post_ffw_norm.weight", embd, arch.has_post_norms())?,
        })
    }
}

impl Weights {
    pub fn load(g: &Gguf, cfg: &ModelConfig, mut on_layer: impl FnMut(usize)) -> Result<Self, ModelError> {
        let l = Loader { g, cfg };
        let token_embd = l.matrix("token_embd.weight", cfg.n_embd, cfg.n_vocab)?;
        let output = if g.has_tensor("output.weight") {
            l.matrix("output.weight", cfg.n_embd, cfg.n_vocab)?
        } else {
            token_embd.clone()
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for il in 0..cfg.n_layer {
            layers.push(l.layer(il)?);
            on_layer(il);
        }
        let rope_freqs = match cfg.arch {
            Arch::Llama => l.opt_vector("rope_freqs.weight", cfg.rope.n_rot / 2)?,
            _ => None,
        };
        Ok(Weights { token_embd, layers, output_norm: l.vector("output_norm.weight", cfg.n_embd)?, output, rope_freqs })
    }
}

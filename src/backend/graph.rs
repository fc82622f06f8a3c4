//! The decoder graph, written once for every device: llama, qwen2 and gemma3 are one layer
//! whose differences are the optional tensors and flags of `ModelConfig`. A device implements
//! `Ops` over its own activation buffers (named by `Act`) and weights (named by `Weight`);
//! fused ops (`add_rmsnorm`, `gated_ffn`, `matmuls`) let a GPU save passes over memory while the CPU
//! computes them step by step, in the order llama.cpp's CPU backend does.

use super::BackendError;
pub use crate::model::LayerTensor;
use crate::model::{ModelConfig, Weights};

/// The activation buffers of one batch, each `n_tokens` rows wide as the name says:
/// `X`, `Xn`, `Proj`, `Normed`: n_embd; `Q`, `QNormed`, `Attn`: q_dim; `K`, `V`, `KNormed`:
/// kv_dim; `Gate`, `Up`, `Ffn`: n_ff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Act {
    /// The residual stream.
    X,
    /// The normalised input of the next projection.
    Xn,
    Q,
    K,
    V,
    QNormed,
    KNormed,
    Attn,
    /// An attention or FFN output before it joins the residual stream.
    Proj,
    /// `Proj` after a post-norm (Gemma).
    Normed,
    Gate,
    Up,
    /// The gated FFN's output, act(gate) · up.
    Ffn,
}

/// A weight of the model, resolved by each device to its own copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    OutputNorm,
    Layer(usize, LayerTensor),
}

/// What the graph needs from a device, for the batch it is computing.
pub trait Ops {
    /// `out` = the batch's token embeddings, times the model's embedding scale.
    fn embed(&mut self, out: Act) -> Result<(), BackendError>;
    /// `out` = RMS norm of each `width`-wide row of `x`, times `w`.
    fn rmsnorm(&mut self, out: Act, x: Act, w: Weight, width: usize) -> Result<(), BackendError>;
    /// `h += r`, then `out` = RMS norm of `h`'s rows (n_embd wide) times `w`.
    fn add_rmsnorm(&mut self, out: Act, h: Act, r: Act, w: Weight) -> Result<(), BackendError>;
    /// `out` = `x` Wᵀ.
    fn matmul(&mut self, out: Act, w: Weight, x: Act) -> Result<(), BackendError>;
    /// `out` = `x` Wᵀ for each `(out, W)`: projections of one input (a layer's Q, K and V),
    /// which a device may compute in one pass.
    fn matmuls(&mut self, projections: &[(Act, Weight)], x: Act) -> Result<(), BackendError> {
        projections.iter().try_for_each(|&(out, w)| self.matmul(out, w, x))
    }
    /// `x` += bias, per row.
    fn add_bias(&mut self, x: Act, bias: Weight) -> Result<(), BackendError>;
    /// Rotary embedding of every head of `q` and `k` at its token's position (layer `il`'s base
    /// and scale), then `k` and `v` stored in layer `il`'s cache at those positions.
    fn rope_and_store(&mut self, il: usize, q: Act, k: Act, v: Act) -> Result<(), BackendError>;
    /// `out` = attention of `q` (scaled by the model's attention scale) over each token's
    /// sequence in layer `il`'s cache, causal and windowed as the layer is.
    fn attention(&mut self, out: Act, il: usize, q: Act) -> Result<(), BackendError>;
    /// `out` = act(`x` W_gateᵀ) · (`x` W_upᵀ) with layer `il`'s weights, the activation being
    /// the model's (`Gate` and `Up` may serve as scratch).
    fn gated_ffn(&mut self, out: Act, il: usize, x: Act) -> Result<(), BackendError>;
}

/// Runs the decoder over the batch the device holds; on return `Xn` holds the final-norm
/// hidden state of every token, ready for the LM head.
pub fn forward(o: &mut impl Ops, c: &ModelConfig, w: &Weights) -> Result<(), BackendError> {
    use LayerTensor::*;
    let l = Weight::Layer;
    o.embed(Act::X)?;
    o.rmsnorm(Act::Xn, Act::X, l(0, AttnNorm), c.n_embd)?;
    for (il, lw) in w.layers.iter().enumerate() {
        o.matmuls(&[(Act::Q, l(il, Wq)), (Act::K, l(il, Wk)), (Act::V, l(il, Wv))], Act::Xn)?;
        for (present, act, bias) in [(&lw.bq, Act::Q, Bq), (&lw.bk, Act::K, Bk), (&lw.bv, Act::V, Bv)] {
            if present.is_some() {
                o.add_bias(act, l(il, bias))?;
            }
        }
        let (q, k) = if lw.q_norm.is_some() && lw.k_norm.is_some() {
            o.rmsnorm(Act::QNormed, Act::Q, l(il, QNorm), c.head_dim)?;
            o.rmsnorm(Act::KNormed, Act::K, l(il, KNorm), c.head_dim)?;
            (Act::QNormed, Act::KNormed)
        } else {
            (Act::Q, Act::K)
        };
        o.rope_and_store(il, q, k, Act::V)?;
        o.attention(Act::Attn, il, q)?;
        o.matmul(Act::Proj, l(il, Wo), Act::Attn)?;
        let attn_out = post_norm(o, lw.attn_post_norm.is_some(), l(il, AttnPostNorm), c)?;
        o.add_rmsnorm(Act::Xn, Act::X, attn_out, l(il, FfnNorm))?;

        o.gated_ffn(Act::Ffn, il, Act::Xn)?;
        o.matmul(Act::Proj, l(il, FfnDown), Act::Ffn)?;
        let ffn_out = post_norm(o, lw.ffn_post_norm.is_some(), l(il, FfnPostNorm), c)?;
        let next_norm = if il + 1 < c.n_layer { l(il + 1, AttnNorm) } else { Weight::OutputNorm };
        o.add_rmsnorm(Act::Xn, Act::X, ffn_out, next_norm)?;
    }
    Ok(())
}

/// `Proj`, or `Proj` through its post-norm (Gemma) when the layer has one.
fn post_norm(o: &mut impl Ops, present: bool, w: Weight, c: &ModelConfig) -> Result<Act, BackendError> {
    if !present {
        return Ok(Act::Proj);
    }
    o.rmsnorm(Act::Normed, Act::Proj, w, c.n_embd)?;
    Ok(Act::Normed)
}

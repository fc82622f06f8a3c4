//! The kernels the decoder graph launches, resolved once for a model's shape when its weights
//! load: a forward pass launches them with no lookup, and a bundle that lacks one fails at load
//! with the variant's name.

use crate::backend::gpu::launchers::{
    add_rows, argmax, attn_decode, attn_decode_reduce, attn_prefill, dequant, embed, gemm_f16, glu, matvec,
    matvec_batch, matvec_glu, matvec_multi, quantize_q8_1, rmsnorm, rmsnorm_add, rope_kv, to_f16,
};
use crate::backend::gpu::tuning::{ByShape, ByTokens};
use crate::backend::gpu::{Kernels, LaunchError, Quant};
use crate::model::{Activation, ModelConfig, RopeKind};

pub struct DecoderKernels {
    pub embed: embed::ByQuant,
    /// The mat-vec of one token, tuned per shape.
    pub matvec: ByShape<matvec::ByQuant>,
    /// The mat-vec for passes of a few tokens.
    pub matvec_batch: matvec_batch::ByQuant,
    /// Gate and up with the model's activation, when both are in one format; tuned per shape.
    pub matvec_glu: ByShape<matvec_glu::ByQuant>,
    /// Up to three matrices of one format and one input (Q, K, V) in one launch; tuned per shape.
    pub matvec_multi: ByShape<matvec_multi::ByQuant>,
    pub dequant: dequant::ByQuant,
    pub quantize: quantize_q8_1::Kernel,
    pub rmsnorm: rmsnorm::Kernel,
    pub rmsnorm_add: rmsnorm_add::Kernel,
    pub add_rows: add_rows::Kernel,
    pub to_f16: to_f16::Kernel,
    /// The matrix-unit GEMM of prefill, tuned per shape (its split-K).
    pub gemm: ByTokens<gemm_f16::Kernel>,
    pub glu: glu::Kernel,
    pub rope_kv: rope_kv::Kernel,
    pub attn_decode: attn_decode::Kernel,
    pub attn_reduce: attn_decode_reduce::Kernel,
    pub attn_prefill: attn_prefill::Kernel,
    pub argmax: argmax::Kernel,
}

impl DecoderKernels {
    pub fn resolve(k: &Kernels, c: &ModelConfig) -> Result<Self, LaunchError> {
        let hd = c.head_dim as u32;
        let silu = c.activation == Activation::SwiGlu;
        let rope_mode = match c.rope.kind {
            RopeKind::Normal => rope_kv::Mode::Norm,
            RopeKind::Neox => rope_kv::Mode::Neox,
        };
        Ok(DecoderKernels {
            embed: embed::ByQuant::resolve(k),
            matvec: ByShape::resolve(k, matvec::FAMILY, |c| {
                matvec::ByQuant::resolve(k, c.get("rows"), c.get("loads"))
            })?,
            matvec_batch: matvec_batch::ByQuant::resolve(k),
            matvec_glu: ByShape::resolve(k, matvec_glu::FAMILY, |c| {
                let act = if silu { matvec_glu::Act::Silu } else { matvec_glu::Act::Gelu };
                matvec_glu::ByQuant::resolve(k, act, c.get("loads"))
            })?,
            matvec_multi: ByShape::resolve(k, matvec_multi::FAMILY, |c| {
                matvec_multi::ByQuant::resolve(k, c.get("rows"), c.get("loads"))
            })?,
            dequant: dequant::ByQuant::resolve(k),
            quantize: quantize_q8_1::Kernel::resolve(k)?,
            rmsnorm: rmsnorm::Kernel::resolve(k)?,
            rmsnorm_add: rmsnorm_add::Kernel::resolve(k)?,
            add_rows: add_rows::Kernel::resolve(k)?,
            to_f16: to_f16::Kernel::resolve(k)?,
            gemm: ByTokens::resolve(k, gemm_f16::FAMILY, |c| gemm_f16::Kernel::resolve(k, c.get("splits")))?,
            glu: glu::Kernel::resolve(k, if silu { glu::Act::Silu } else { glu::Act::Gelu })?,
            rope_kv: rope_kv::Kernel::resolve(k, rope_mode, hd)?,
            attn_decode: attn_decode::Kernel::resolve(k, hd)?,
            attn_reduce: attn_decode_reduce::Kernel::resolve(k, hd)?,
            attn_prefill: attn_prefill::Kernel::resolve(k, hd)?,
            argmax: argmax::Kernel::resolve(k)?,
        })
    }

    /// Fails unless the bundle has what a weight in format `quant` needs: the mat-vecs and the
    /// dequantization, and for the embedding table the lookup. (The fused gate/up and Q/K/V
    /// mat-vecs are optional: without them, each matrix runs alone.)
    pub fn check_format(&self, quant: Quant, embedding: bool) -> Result<(), LaunchError> {
        self.matvec.default_for(quant).require(quant)?;
        self.matvec_batch.require(quant)?;
        self.dequant.require(quant)?;
        if embedding {
            self.embed.require(quant)?;
        }
        Ok(())
    }
}

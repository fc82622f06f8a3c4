//! The kernels the decoder graph launches, resolved once for a model's shape when its weights
//! load: a forward pass launches them with no lookup, and a bundle that lacks one fails at load
//! with the variant's name.

use crate::backend::gpu::launchers::{
    add_rows, argmax, attn_decode, attn_decode_reduce, attn_prefill, dequant, embed, gemm_f16, glu, matvec,
    matvec_batch, matvec_glu, matvec_multi, quantize_q8_1, rmsnorm, rmsnorm_add, rope_kv, to_f16,
};
use crate::backend::gpu::tuning::{ByShape, ByTokens, GemmShape};
use crate::backend::gpu::{Kernels, LaunchError, Quant};
use crate::model::{Activation, ModelConfig, RopeKind};
use rocmforge_codegen::kernels::gemm_f16::{tile, NVIDIA_WORKGROUPS_PER_SM};
use rocmforge_codegen::Vendor;

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
    /// The matrix-unit GEMM of prefill, its split-K tuned per shape.
    pub gemm: Gemm,
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
            gemm: Gemm::resolve(k)?,
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

/// Untuned passes split K at most this many ways: on the H200 every tuned winner for llama 8B
/// (64 to 512 tokens) was the most splits up to 4 whose workgroups all fit at once, and 8 lost
/// wherever it was allowed (`docs/ARCHITECTURE.md`).
const MAX_UNTUNED_SPLITS: u32 = 4;

/// The prefill GEMM's launchers, one per split count, and how a pass picks one: its row of the
/// tuning table (`ByTokens`); else, on a GPU whose compute units are known, the most splits (at
/// most `MAX_UNTUNED_SPLITS`) whose workgroups are all resident at once (`untuned_splits`); else
/// one.
pub struct Gemm {
    tuned: ByTokens<gemm_f16::Kernel>,
    by_splits: Vec<(u32, gemm_f16::Kernel)>,
    /// Tokens and weight rows a workgroup computes.
    tile: [u64; 2],
    /// Workgroups resident at once on the whole GPU, where known (NVIDIA: its SMs).
    slots: Option<u64>,
}

impl Gemm {
    fn resolve(k: &Kernels) -> Result<Self, LaunchError> {
        let tuned = ByTokens::resolve(k, gemm_f16::FAMILY, |c| gemm_f16::Kernel::resolve(k, c.get("splits")))?;
        let by_splits = k
            .axis_values(gemm_f16::FAMILY, "splits")
            .into_iter()
            .map(|s| Ok((s, gemm_f16::Kernel::resolve(k, s)?)))
            .collect::<Result<Vec<_>, LaunchError>>()?;
        if by_splits.is_empty() {
            return Err(LaunchError::NotTuned(gemm_f16::FAMILY.to_string()));
        }
        let nvidia = k.target().vendor() == Vendor::Nvidia;
        let slots = k.gpu().compute_units().filter(|_| nvidia).map(|sms| u64::from(sms * NVIDIA_WORKGROUPS_PER_SM));
        Ok(Gemm { tuned, by_splits, tile: tile(k.target()).map(u64::from), slots })
    }

    /// The launcher for a pass of these sizes.
    pub fn get(&self, pass: GemmShape) -> &gemm_f16::Kernel {
        if let Some((_, kernel)) = self.tuned.row(pass) {
            return kernel;
        }
        let tiles = pass.m.div_ceil(self.tile[0]) * pass.n.div_ceil(self.tile[1]);
        let values = self.by_splits.iter().map(|(s, _)| *s);
        let splits = self.slots.map_or(1, |slots| untuned_splits(tiles, slots, values));
        let one = self.by_splits.iter().find(|(s, _)| *s == splits).or(self.by_splits.first());
        &one.expect("resolve found at least one split count").1
    }

    /// Elements of the split-K work buffer the untuned passes may need: every resident
    /// workgroup's tile (a pass splits only while its splits all fit at once).
    pub fn untuned_partials(&self) -> u64 {
        self.slots.map_or(0, |slots| slots * self.tile[0] * self.tile[1])
    }

    /// The tuned rows' sizes and split counts.
    pub fn tuned_rows(&self) -> impl Iterator<Item = (GemmShape, u32)> + '_ {
        self.tuned.rows().map(|(shape, c)| (shape, c.get("splits")))
    }
}

/// Elements of `gemm_f16`'s split-K work buffer `param` (`partials` or `counters`) for a launch of
/// `m` tokens and `n` weight rows split `splits` ways, by the catalog's declared extent.
pub fn split_k_extent(kernels: &Kernels, param: &str, splits: u32, m: u64, n: u64) -> Result<usize, LaunchError> {
    let sizes = [("splits", u64::from(splits)), ("m", m), ("n", n)];
    kernels.extent(gemm_f16::FAMILY, param, &sizes).map(|e| e as usize)
}

/// The most splits among `values` (at most `MAX_UNTUNED_SPLITS`) that keep all `tiles` x splits
/// workgroups resident in `slots` at once; 1 when none does.
fn untuned_splits(tiles: u64, slots: u64, values: impl IntoIterator<Item = u32>) -> u32 {
    let fits = |s: &u32| *s <= MAX_UNTUNED_SPLITS && tiles * u64::from(*s) <= slots;
    values.into_iter().filter(fits).max().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The H200's winners for llama 8B (`rocmforge tune`, 132 SMs, two workgroups each, tiles
    /// of 128 x 128): the rule gives each.
    #[test]
    fn untuned_splits_follow_the_tuned_winners() {
        let values = [1, 2, 4, 8];
        let splits = |m: u64, n: u64| untuned_splits(m.div_ceil(128) * n.div_ceil(128), 264, values);
        // Q+K+V (6144), output and down projections (4096), gate or up (14336), LM head.
        assert_eq!([64, 128, 256, 512].map(|m| splits(m, 6144)), [4, 4, 2, 1]);
        assert_eq!([64, 128, 256, 512].map(|m| splits(m, 4096)), [4, 4, 4, 2]);
        assert_eq!([64, 128, 256, 512].map(|m| splits(m, 14336)), [2, 2, 1, 1]);
        assert_eq!(splits(64, 128_256), 1);
        assert_eq!(untuned_splits(1000, 264, [1, 2]), 1, "more tiles than slots");
    }
}

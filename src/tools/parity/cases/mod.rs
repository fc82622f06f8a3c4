//! Parity cases per kernel family: inputs, launch sizes and the CPU reference's outputs.

mod attention;
mod elementwise;
mod matmul;

use rocmforge_codegen::catalog::Family;
use rocmforge_codegen::Variant;

use super::{Arg, Case, Dtype};
pub(crate) use attention::softmax_partial;
use attention::{decode_cases, prefill_cases, reduce_cases};
use elementwise::{add_rows, argmax, glu, rmsnorm, rmsnorm_add, rope, rope_kv, sample, softmax, to_f16, topk};
use matmul::{
    dequant, embed, gemm, matvec, matvec_batch, matvec_glu, matvec_multi, mma_peak, quantize_q8_1, read_peak,
};
pub(crate) use matmul::{dequantized, mat_vec, q8_1};
use rocmforge::engine::sampler::SamplerConfig;

/// f32 kernels whose only difference from the CPU is summation order and approximate
/// exp/rsqrt instructions.
const F32_TOL: f64 = 1e-5;
/// Outputs stored as f16, or products of operands rounded to f16 (2^-11 relative rounding).
const F16_TOL: f64 = 1e-3;

fn out(reference: Vec<f32>, tolerance: f64) -> Arg {
    Arg::Output { reference, dtype: Dtype::F32, tolerance }
}

/// Which sizes a parity run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizes {
    /// One or two small sizes per family: what the CPU-side tests build, and a quick GPU check.
    Small,
    /// Real model sizes and odd ones: rows 1, 7, 4097; sequence lengths 1, 17, 512, 4096;
    /// head_dim 64/128/256 (the variants); GQA ratios 1, 4, 7.
    Full,
}

/// Row lengths that are not powers of two for the mat-vec: Gemma 3's 640 (768 for the 256-weight
/// formats), and one just past the 8192 columns a pass of staged activations holds.
fn matvec_odd_cols(q: rocmforge_codegen::Quant) -> (usize, usize) {
    if q.block_elems() == 32 {
        (640, 8192 + 32)
    } else {
        (768, 8192 + 256)
    }
}

impl Sizes {
    fn pick<T: Clone>(self, small: &[T], full: &[T]) -> Vec<T> {
        match self {
            Sizes::Small => small.to_vec(),
            Sizes::Full => full.to_vec(),
        }
    }
}

/// The cases of `variant` at `sizes` (empty for a family without cases, which the harness reports).
pub fn cases_for(family: &Family, variant: &Variant, sizes: Sizes) -> Vec<Case> {
    let key = variant.key();
    let label = |what: String| format!("{key} {what}");
    match family.name {
        "rmsnorm" => sizes
            .pick(&[(7, 2048)], &[(1, 2048), (7, 4097), (4097, 640)])
            .into_iter()
            .map(|(rows, n)| rmsnorm(&label(format!("{rows}x{n}")), rows, n))
            .collect(),
        "rmsnorm_add" => sizes
            .pick(&[(3, 1568)], &[(1, 640), (7, 1568), (4097, 2048), (2, 14336)])
            .into_iter()
            .map(|(rows, n)| rmsnorm_add(&label(format!("{rows}x{n}")), rows, n))
            .collect(),
        "rope" => sizes
            .pick(&[(5, 4091)], &[(1, 131_071), (17, 0), (512, 100), (4096, 0)])
            .into_iter()
            .map(|(tokens, pos0)| rope(&label(format!("{tokens} tokens at {pos0}")), variant, tokens, pos0))
            .collect(),
        "rope_kv" => sizes
            .pick(&[(5, 4091, 8, 2)], &[(1, 65_535, 32, 2), (17, 0, 14, 2), (512, 100, 8, 1)])
            .into_iter()
            .map(|(tokens, pos0, heads, heads_kv)| {
                let what = format!("{tokens} tokens at {pos0}, heads {heads}/{heads_kv}");
                rope_kv(&label(what), variant, tokens, pos0, heads, heads_kv)
            })
            .collect(),
        "glu" => sizes
            .pick(&[4097], &[1, 7, 4097, 65_536])
            .into_iter()
            .map(|n| glu(&label(format!("{n}")), variant.word("act"), n))
            .collect(),
        "softmax" => sizes
            .pick(&[(3, 4097)], &[(1, 17), (7, 512), (4097, 4096)])
            .into_iter()
            .map(|(rows, n)| softmax(&label(format!("{rows}x{n}")), rows, n, 0.5))
            .collect(),
        "quantize_q8_1" => sizes
            .pick(&[(3, 1056)], &[(1, 640), (7, 14336), (513, 4096)])
            .into_iter()
            .map(|(rows, cols)| quantize_q8_1(&label(format!("{rows}x{cols}")), rows, cols))
            .collect(),
        "matvec" => {
            let q = variant.quant().expect("matvec has a quant axis");
            let (narrow, wide) = matvec_odd_cols(q);
            sizes
                .pick(&[(7, narrow)], &[(1, 4096), (7, narrow), (4097, 2048), (3, wide)])
                .into_iter()
                .map(|(rows, cols)| matvec(&label(format!("{rows}x{cols}")), q, rows, cols))
                .collect()
        }
        "matvec_batch" => {
            let q = variant.quant().expect("matvec_batch has a quant axis");
            let (narrow, wide) = matvec_odd_cols(q);
            // Token counts below, at and past a workgroup's (8; 4 on wave64), and partial last groups.
            sizes
                .pick(&[(3, 7, narrow)], &[(2, 4096, 4096), (8, 7, narrow), (17, 4097, 2048), (64, 3, wide)])
                .into_iter()
                .map(|(tokens, rows, cols)| {
                    matvec_batch(&label(format!("{tokens} tokens {rows}x{cols}")), q, tokens, rows, cols)
                })
                .collect()
        }
        "matvec_multi" => {
            let q = variant.quant().expect("matvec_multi has a quant axis");
            let (narrow, wide) = matvec_odd_cols(q);
            // Q, K and V of a GQA layer; a partial last workgroup in each; an absent third matrix.
            sizes
                .pick(
                    &[([40, 17, 3], narrow)],
                    &[([4096, 1024, 1024], 4096), ([4097, 1000, 33], narrow), ([640, 640, 0], wide)],
                )
                .into_iter()
                .map(|(rows, cols)| matvec_multi(&label(format!("{rows:?}x{cols}")), q, rows, cols))
                .collect()
        }
        "matvec_glu" => {
            let q = variant.quant().expect("matvec_glu has a quant axis");
            let (narrow, wide) = matvec_odd_cols(q);
            sizes
                .pick(&[(7, 1024)], &[(1, 4096), (7, narrow), (4097, 2048), (3, wide)])
                .into_iter()
                .map(|(rows, cols)| matvec_glu(&label(format!("{rows}x{cols}")), q, variant.word("act"), rows, cols))
                .collect()
        }
        "dequant" => {
            let q = variant.quant().expect("dequant has a quant axis");
            let n = |blocks: usize| blocks * q.block_elems() as usize;
            sizes
                .pick(&[n(48)], &[n(1), n(7), n(4097)])
                .into_iter()
                .map(|len| dequant(&label(format!("{len}")), q, len))
                .collect()
        }
        "gemm_f16" => {
            let plain = sizes
                .pick(
                    &[(17, 257, 256)],
                    &[(1, 4097, 64), (7, 7, 32), (17, 257, 4096), (512, 2048, 2048), (4097, 7, 128)],
                )
                .into_iter()
                .map(|(m, n, k)| gemm(&label(format!("{m}x{n}x{k}")), m, n, k, (0, 0)));
            // Q, K and V in one GEMM: cuts on and off the tile edges.
            let split = sizes
                .pick(&[(33, 200, 64, (40, 24))], &[(512, 6144, 256, (1024, 1024)), (70, 777, 96, (129, 65))])
                .into_iter()
                .map(|(m, n, k, cut)| gemm(&label(format!("{m}x{n}x{k} cut {cut:?}")), m, n, k, cut));
            plain.chain(split).collect()
        }
        "mma_peak" => sizes
            .pick(&[(3, 8)], &[(1, 4), (2, 0), (133, 64), (7, 128)])
            .into_iter()
            .map(|(groups, reps)| mma_peak(&label(format!("{groups} groups x {reps} reps")), groups, reps))
            .collect(),
        "read_peak" => sizes
            .pick(&[1500], &[1, 7, 1024, 4097, 100_000])
            .into_iter()
            .map(|n| read_peak(&label(format!("{n} words")), n))
            .collect(),
        "argmax" => {
            let mut cases: Vec<Case> = sizes
                .pick(&[(2, 262_151)], &[(1, 262_151), (7, 151_936)])
                .into_iter()
                .map(|(rows, n)| argmax(&label(format!("{rows}x{n}")), rows, n, false))
                .collect();
            cases.push(argmax(&label("tie".into()), 1, 4097, true));
            cases
        }
        "sample" => {
            let wide = SamplerConfig { top_k: 128, top_p: 1.0, min_p: 0.0, temperature: 1.5, ..Default::default() };
            sizes
                .pick(&[(4, 151_936)], &[(1, 262_144), (7, 151_936)])
                .into_iter()
                .flat_map(|(rows, n)| {
                    [
                        sample(&label(format!("{rows}x{n} llama defaults")), rows, n, SamplerConfig::default()),
                        sample(&label(format!("{rows}x{n} k=128 t=1.5")), rows, n, wide.clone()),
                    ]
                })
                .collect()
        }
        "topk" => sizes
            .pick(&[(2, 8200, 40)], &[(1, 262_144, 40), (7, 151_936, 128), (3, 4097, 1)])
            .into_iter()
            .map(|(rows, n, k)| topk(&label(format!("{rows}x{n} k={k}")), rows, n, k))
            .collect(),
        "attn_decode" => decode_cases(&key, variant.int("head_dim") as usize, sizes),
        "attn_decode_reduce" => reduce_cases(&key, variant.int("head_dim") as usize, sizes),
        "attn_prefill" => prefill_cases(&key, variant.int("head_dim") as usize, sizes),
        "embed" => {
            let q = variant.quant().expect("embed has a quant axis");
            // The last id is outside the table: its row must come out as zeros.
            let ids: &[i32] = &[3, 0, 3, 1021, -1];
            sizes
                .pick(&[(1024, 512)], &[(1024, 640), (1024, 4096), (32_000, 2048)])
                .into_iter()
                .filter(|&(_, cols)| cols % q.block_elems() as usize == 0)
                .map(|(n_vocab, cols)| embed(&label(format!("{n_vocab}x{cols}")), q, n_vocab, cols, ids))
                .collect()
        }
        "add_rows" => sizes
            .pick(&[(3, 896)], &[(1, 128), (7, 4097), (512, 896)])
            .into_iter()
            .map(|(rows, n)| add_rows(&label(format!("{rows}x{n}")), rows, n))
            .collect(),
        "to_f16" => {
            sizes.pick(&[4097], &[1, 4097, 512 * 4096]).into_iter().map(|n| to_f16(&label(format!("{n}")), n)).collect()
        }
        _ => Vec::new(),
    }
}

//! Parity cases per kernel family: inputs, launch sizes and the CPU reference's outputs.

mod attention;
mod elementwise;
mod matmul;

use rocmforge_codegen::catalog::Family;
use rocmforge_codegen::Variant;

use super::{Arg, Case, Dtype};
use crate::engine::sampler::SamplerConfig;
use attention::{decode_cases, prefill_cases, reduce_case};
use elementwise::{argmax, glu, kv_append, rmsnorm, rmsnorm_add, rope, sample, softmax};
use matmul::{dequant, gemm, matvec, matvec_glu};

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
        "matvec_glu" => {
            let q = variant.quant().expect("matvec_glu has a quant axis");
            vec![
                matvec_glu(&label("7x4096"), q, variant.word("act"), 7, 4096),
                matvec_glu(&label("4097x1024"), q, variant.word("act"), 4097, 1024),
            ]
        }
        "dequant" => vec![dequant(&label("3x4096"), variant.quant().expect("dequant has a quant axis"), 3 * 4096)],
        "gemm_f16" => vec![
            gemm(&label("1x4097x64"), 1, 4097, 64),
            gemm(&label("17x257x4096"), 17, 257, 4096),
            gemm(&label("4097x7x128"), 4097, 7, 128),
            gemm(&label("512x2048x2048"), 512, 2048, 2048),
        ],
        "kv_append" => vec![kv_append(&label("3 tokens of 519 at 5"), 519, 3, 5, 16)],
        "argmax" => vec![argmax(&label("2x262151"), 2, 262_151, false), argmax(&label("tie"), 1, 4097, true)],
        "sample" => vec![
            sample(&label("8x262144 llama defaults"), 8, 262_144, SamplerConfig::default()),
            sample(
                &label("4x151936 k=128 t=1.5"),
                4,
                151_936,
                SamplerConfig { top_k: 128, top_p: 1.0, min_p: 0.0, temperature: 1.5, ..Default::default() },
            ),
        ],
        "attn_decode" => decode_cases(&variant.key(), variant.int("head_dim") as usize),
        "attn_decode_reduce" => vec![reduce_case(&variant.key(), variant.int("head_dim") as usize)],
        "attn_prefill" => prefill_cases(&variant.key(), variant.int("head_dim") as usize),
        _ => Vec::new(),
    }
}

//! The device's matrix rate, the yardstick of the matrix-unit kernels in `bench-kernels`: every
//! workgroup runs the GEMM's matrix instruction on operands already on chip, so the only limit
//! is the matrix units themselves.

use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;
use crate::{MatrixUnit, Target};

/// The K of one repetition: a[K] and b[K].
pub const K: u32 = 32;
/// Repetitions run as this many independent accumulator chains (AMD: to keep the matrix pipeline
/// full); `reps` must be a multiple.
pub const CHAINS: u32 = 4;
/// Threads per workgroup: two warpgroups on NVIDIA, 8 waves on RDNA3, 4 on CDNA.
const THREADS: u32 = 256;
/// NVIDIA: the N of `wgmma.m64nNk16`, the largest (the GEMM's is 128; the rate per instruction is
/// the same, the operand traffic per flop lower).
const WGMMA_N: u32 = 256;

/// Multiply-adds (counted as 2 flops) one workgroup performs per repetition on `target`.
pub fn flops_per_rep(target: Target) -> u64 {
    let (m, n, units) = match target.matrix_unit() {
        MatrixUnit::Mma => (64, WGMMA_N, THREADS / 128),
        MatrixUnit::Wmma | MatrixUnit::Mfma => (16, 16, THREADS / target.wave_size()),
    };
    2 * u64::from(m * n * K * units)
}

#[derive(Template)]
#[template(path = "mma_peak.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    unit: &'static str,
    /// gfx950: `v_mfma_f32_16x16x32_f16`, the GEMM's instruction there.
    mfma_k32: bool,
    /// NVIDIA: the wgmma partial's N.
    bm: u32,
    k: u32,
    chains: u32,
}

pub fn family() -> Family {
    Family {
        name: "mma_peak",
        template: "mma_peak.hip.j2",
        summary: "the matrix rate: every workgroup multiplies f16 tiles whose rows are all a and whose columns \
                  are all b (K = 32), reps times, with the GEMM's matrix instruction (wgmma m64n256k16 on \
                  sm_90), and writes one element of the f32 sum, reps * sum_k a[k] b[k]; reps % 4 == 0",
        params: vec![
            output("c", Elem::F32, "n_groups"),
            input("a", Elem::F16, "32"),
            input("b", Elem::F16, "32"),
            scalar("reps", Scalar::I32),
        ],
        axes: vec![],
        launch: Launch {
            threads: THREADS,
            grid: [Grid::Dim("n_groups"), Grid::One, Grid::One],
            dims: &["n_groups"],
            dynamic_shared: Per::Items(0),
        },
        reference: "reps * backend::cpu::vec::dot(a, b)",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| {
            let unit = v.target.matrix_unit().name();
            let mfma_k32 = v.target.mfma_k32();
            Source { ctx: Ctx::new("mma_peak.hip.j2", v), unit, mfma_k32, bm: WGMMA_N, k: K, chains: CHAINS }.render()
        },
    }
}

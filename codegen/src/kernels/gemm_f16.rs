use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;

/// Output rows (tokens) one workgroup computes, per matrix unit. On NVIDIA they are the N of
/// wgmma.m64n128k16 (two warpgroups of 64 weight rows each): 512x14336x4096 at 355 TFLOP/s on an
/// H200 where n64 ran at 140 (both unswizzled then), and the mma.sync kernel before at 213.
pub const BM: Per = Per::Unit { wmma: 64, mfma: 64, mma: 128 };
/// Output columns (weight rows) one workgroup computes, per matrix unit.
pub const BN: Per = Per::Unit { wmma: 64, mfma: 64, mma: 128 };
/// K step staged through shared memory per iteration; the contract requires K % BK == 0.
pub const BK: u32 = 32;
/// Threads per workgroup.
const THREADS: u32 = 256;
/// Stages of the NVIDIA kernel's cp.async pipeline: 3 x (128 + 128) rows x 64 bytes, the 48 KiB of
/// static shared memory.
const MMA_STAGES: u32 = 3;

#[derive(Template)]
#[template(path = "gemm_f16.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    /// "wmma" | "mfma" | "mma": which matrix instruction the warp-level product uses.
    unit: &'static str,
    /// gfx950: one `v_mfma_f32_16x16x32_f16` per K step instead of two 16x16x16.
    mfma_k32: bool,
    bm: u32,
    bn: u32,
    bk: u32,
    /// NVIDIA: cp.async pipeline depth.
    stages: u32,
    /// AMD: halves per shared-memory row, padded by 8 (fragment reads take 16 rows at one K
    /// offset).
    lds_stride: u32,
}

fn render(v: &Variant) -> Result<String, askama::Error> {
    let unit = v.target.matrix_unit().name();
    let (bm, bn) = (BM.items(THREADS, v.target), BN.items(THREADS, v.target));
    Source {
        ctx: Ctx::new("gemm_f16.hip.j2", v),
        unit,
        mfma_k32: v.target.mfma_k32(),
        bm,
        bn,
        bk: BK,
        stages: MMA_STAGES,
        lds_stride: BK + 8,
    }
    .render()
}

pub fn family() -> Family {
    Family {
        name: "gemm_f16",
        template: "gemm_f16.hip.j2",
        summary: "C[m][n] = sum_k A[m][k] W[n][k] for f16 activations and dequantized f16 weights (prefill), \
                  f32 accumulation on the matrix units; K % 32 == 0, a and w 16-byte aligned; C's columns may \
                  go to up to three outputs (c: the first n - n_b - n_c, c_b: the next n_b, c_c: the last n_c)",
        params: vec![
            output("c", Elem::F32, "m * (n - n_b - n_c)"),
            output("c_b", Elem::F32, "m * n_b"),
            output("c_c", Elem::F32, "m * n_c"),
            input("a", Elem::F16, "m * k"),
            input("w", Elem::F16, "n * k"),
            scalar("m", Scalar::I32),
            scalar("n", Scalar::I32),
            scalar("k", Scalar::I32),
            scalar("n_b", Scalar::I32),
            scalar("n_c", Scalar::I32),
        ],
        axes: vec![],
        launch: Launch {
            threads: THREADS,
            grid: [Grid::CeilDiv("m", BM), Grid::CeilDiv("n", BN), Grid::One],
            dims: &[],
        },
        reference: "f32 matmul of dequantized weights (quant::dequantize_row, backend::cpu::vec::dot)",
        allow_scratch: false,
        tuning: &[],
        render,
    }
}

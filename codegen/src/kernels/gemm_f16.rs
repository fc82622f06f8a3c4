use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;
use crate::{MatrixUnit, Target};

/// Output rows (tokens) one workgroup computes.
pub const BM: u32 = 64;
/// Output columns (weight rows) one workgroup computes.
pub const BN: u32 = 64;
/// K step staged through shared memory per iteration; the contract requires K % BK == 0.
pub const BK: u32 = 32;

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
    /// Halves per shared-memory row: padded by 8 on AMD (fragment reads take 16 rows at one K
    /// offset), unpadded on NVIDIA (fragment reads take 2 rows x 4 chunks per quarter warp).
    lds_stride: u32,
}

fn render(v: &Variant) -> Result<String, askama::Error> {
    let unit = match v.target.matrix_unit() {
        MatrixUnit::Wmma => "wmma",
        MatrixUnit::Mfma => "mfma",
        MatrixUnit::Mma => "mma",
    };
    let lds_stride = if unit == "mma" { BK } else { BK + 8 };
    Source {
        ctx: Ctx::new("gemm_f16.hip.j2", v),
        unit,
        mfma_k32: v.target == Target::Gfx950,
        bm: BM,
        bn: BN,
        bk: BK,
        lds_stride,
    }
    .render()
}

pub fn family() -> Family {
    Family {
        name: "gemm_f16",
        template: "gemm_f16.hip.j2",
        summary: "C[m][n] = sum_k A[m][k] W[n][k] for f16 activations and dequantized f16 weights (prefill), \
                  f32 accumulation on the matrix units; K % 32 == 0, a and w 16-byte aligned",
        params: vec![
            output("c", Elem::F32, "m * n"),
            input("a", Elem::F16, "m * k"),
            input("w", Elem::F16, "n * k"),
            scalar("m", Scalar::I32),
            scalar("n", Scalar::I32),
            scalar("k", Scalar::I32),
        ],
        axes: vec![],
        launch: Launch {
            threads: 256,
            grid: [Grid::CeilDiv("n", Per::Items(BN)), Grid::CeilDiv("m", Per::Items(BM)), Grid::One],
            dims: &[],
        },
        reference: "f32 matmul of dequantized weights (quant::dequantize_row, backend::cpu::vec::dot)",
        allow_scratch: false,
        render,
    }
}

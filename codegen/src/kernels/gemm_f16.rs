use askama::Template;

use crate::catalog::{input, output, scalar, tensor_map, Elem, Family, Grid, Launch, Per, Scalar, TensorMapOf};
use crate::kernels::Ctx;
use crate::variant::Variant;

/// Output rows (tokens) one workgroup computes, per matrix unit. On NVIDIA they are the N of
/// wgmma.m64n128k16 (two warpgroups of 64 weight rows each): 512x14336x4096 at 355 TFLOP/s on an
/// H200 where n64 ran at 140 (both unswizzled then), and the mma.sync kernel before at 213.
pub const BM: Per = Per::Unit { wmma: 64, mfma: 64, mma: MMA_TILE };
/// Output columns (weight rows) one workgroup computes, per matrix unit.
pub const BN: Per = Per::Unit { wmma: 64, mfma: 64, mma: MMA_TILE };
/// BM and BN on NVIDIA.
const MMA_TILE: u32 = 128;
/// K step staged through shared memory per iteration, per matrix unit. The contract requires
/// K % 32 == 0; NVIDIA's tensor copies fill a last, partial 64-wide step with zeros.
pub const BK: Per = Per::Unit { wmma: 32, mfma: 32, mma: MMA_BK };
/// BK on NVIDIA: rows of 128 bytes, in the 128-byte swizzle.
const MMA_BK: u32 = 64;
/// Threads per workgroup.
const THREADS: u32 = 256;
/// Stages of the NVIDIA kernel's pipeline of tensor copies, each BM + BN rows of BK halves.
const MMA_STAGES: u32 = 3;
/// The NVIDIA kernel's stages in dynamic shared memory, with room to align them to 1024 bytes
/// (where the swizzle pattern of the copies and of wgmma's reads starts over).
const MMA_SHARED: u32 = MMA_STAGES * (MMA_TILE + MMA_TILE) * MMA_BK * 2 + 1024;

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
    /// NVIDIA: stages of tensor copies in flight.
    stages: u32,
    /// NVIDIA: the declared dynamic shared memory, in bytes.
    dynamic_shared: u32,
    /// AMD: halves per shared-memory row, padded by 8 (fragment reads take 16 rows at one K
    /// offset).
    lds_stride: u32,
}

fn render(v: &Variant) -> Result<String, askama::Error> {
    let unit = v.target.matrix_unit().name();
    let (bm, bn, bk) = (BM.items(THREADS, v.target), BN.items(THREADS, v.target), BK.items(THREADS, v.target));
    Source {
        ctx: Ctx::new("gemm_f16.hip.j2", v),
        unit,
        mfma_k32: v.target.mfma_k32(),
        bm,
        bn,
        bk,
        stages: MMA_STAGES,
        dynamic_shared: MMA_SHARED,
        lds_stride: bk + 8,
    }
    .render()
}

pub fn family() -> Family {
    Family {
        name: "gemm_f16",
        template: "gemm_f16.hip.j2",
        summary: "C[m][n] = sum_k A[m][k] W[n][k] for f16 activations and dequantized f16 weights (prefill), \
                  f32 accumulation on the matrix units; K % 32 == 0, a and w 16-byte aligned; C's columns may \
                  go to up to three outputs (c: the first n - n_b - n_c, c_b: the next n_b, c_c: the last n_c); on NVIDIA \
                  A and W come to shared memory by tensor copies (TMA, a_map and w_map)",
        params: vec![
            output("c", Elem::F32, "m * (n - n_b - n_c)"),
            output("c_b", Elem::F32, "m * n_b"),
            output("c_c", Elem::F32, "m * n_c"),
            input("a", Elem::F16, "m * k"),
            input("w", Elem::F16, "n * k"),
            tensor_map("a_map", TensorMapOf { buffer: "a", rows: "m", cols: "k", box_rows: BM, box_cols: BK }),
            tensor_map("w_map", TensorMapOf { buffer: "w", rows: "n", cols: "k", box_rows: BN, box_cols: BK }),
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
            dynamic_shared: Per::Unit { wmma: 0, mfma: 0, mma: MMA_SHARED },
        },
        reference: "f32 matmul of dequantized weights (quant::dequantize_row, backend::cpu::vec::dot)",
        allow_scratch: false,
        tuning: &[],
        render,
    }
}

use askama::Template;

use crate::catalog::{
    input, output, scalar, tensor_map, Axis, Elem, Family, Grid, Launch, Per, Scalar, TensorMapOf, Tuning,
};
use crate::kernels::Ctx;
use crate::variant::{AxisValue, Variant};
use crate::Target;

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
/// Workgroups an SM holds on NVIDIA (`launch_bounds`' minimum: the split-K merge is held to the
/// registers that allow it, and the stages' shared memory takes half an SM).
pub const NVIDIA_WORKGROUPS_PER_SM: u32 = 2;
/// Stages of the NVIDIA kernel's pipeline of tensor copies, each BM + BN rows of BK halves.
const MMA_STAGES: u32 = 3;
/// The NVIDIA kernel's stages in dynamic shared memory, with room to align them to 1024 bytes
/// (where the swizzle pattern of the copies and of wgmma's reads starts over).
const MMA_SHARED: u32 = MMA_STAGES * (MMA_TILE + MMA_TILE) * MMA_BK * 2 + 1024;

/// The largest and smallest tile edge of any matrix unit (BM, BN): the extents of the split-K
/// workspace and counters are written for every target with them.
const MAX_TILE: u32 = 128;
const MIN_TILE: u32 = 64;
const _: () = assert!(tiles_within(BM) && tiles_within(BN));

/// Whether every matrix unit's tile edge lies between MIN_TILE and MAX_TILE, each dividing the next.
const fn tiles_within(edge: Per) -> bool {
    const fn fits(t: u32) -> bool {
        t.is_multiple_of(MIN_TILE) && MAX_TILE.is_multiple_of(t)
    }
    match edge {
        Per::Unit { wmma, mfma, mma } => fits(wmma) && fits(mfma) && fits(mma),
        _ => false,
    }
}

/// `splits`: workgroups that share one tile's K steps (split-K), a tuning axis. A GEMM of few
/// tiles (few tokens, or a down projection's 4096 columns over 14336 of K) fills the GPU only
/// when its K is cut: each split leaves its partial sums in `partials` but the last, which adds
/// them in split order (deterministic) and stores the tile.
const SPLITS_VALUES: [u32; 4] = [1, 2, 4, 8];
const SPLITS: Tuning = Tuning { axis: "splits", default: 1, by_quant: &[] };

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
    /// NVIDIA: workgroups an SM must hold.
    per_sm: u32,
    /// Workgroups a tile's K steps are split among (grid z).
    splits: u32,
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
        per_sm: NVIDIA_WORKGROUPS_PER_SM,
        splits: v.int("splits"),
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
                  A and W come to shared memory by tensor copies (TMA, a_map and w_map); with splits > 1 the \
                  K steps of a tile are split among workgroups, whose sums meet in `partials` (counted in \
                  `counters`, zero before a launch and left zero)",
        params: vec![
            output("c", Elem::F32, "m * (n - n_b - n_c)"),
            output("c_b", Elem::F32, "m * n_b"),
            output("c_c", Elem::F32, "m * n_c"),
            input("a", Elem::F16, "m * k"),
            input("w", Elem::F16, "n * k"),
            tensor_map("a_map", TensorMapOf { buffer: "a", rows: "m", cols: "k", box_rows: BM, box_cols: BK }),
            tensor_map("w_map", TensorMapOf { buffer: "w", rows: "n", cols: "k", box_rows: BN, box_cols: BK }),
            // After the maps, which must stay at 48 mod 64 (catalog::TENSOR_MAP_ALIGN).
            output("partials", Elem::F32, partials_extent()),
            output("counters", Elem::U32, counters_extent()),
            scalar("m", Scalar::I32),
            scalar("n", Scalar::I32),
            scalar("k", Scalar::I32),
            scalar("n_b", Scalar::I32),
            scalar("n_c", Scalar::I32),
        ],
        axes: vec![Axis { name: "splits", values: SPLITS_VALUES.iter().map(|&n| AxisValue::Int(n)).collect() }],
        launch: Launch {
            threads: THREADS,
            grid: [Grid::CeilDiv("m", BM), Grid::CeilDiv("n", BN), Grid::Dim("splits")],
            dims: &[],
            dynamic_shared: Per::Unit { wmma: 0, mfma: 0, mma: MMA_SHARED },
        },
        reference: "f32 matmul of dequantized weights (quant::dequantize_row, backend::cpu::vec::dot)",
        allow_scratch: false,
        tuning: &[SPLITS],
        render,
    }
}

/// A workgroup's tile on `target`: tokens (C's rows) and weight rows (C's columns).
pub fn tile(target: Target) -> [u32; 2] {
    [BM.items(THREADS, target), BN.items(THREADS, target)]
}

/// Every split but the last leaves a whole tile of partial sums: room for `splits - 1` grids of
/// the largest tiles.
fn partials_extent() -> String {
    let t = MAX_TILE;
    format!("(splits - 1) * ((m + {}) / {t}) * ((n + {}) / {t}) * {}", t - 1, t - 1, t * t)
}

/// A counter per tile, for the smallest tiles.
fn counters_extent() -> String {
    let t = MIN_TILE;
    format!("((m + {}) / {t}) * ((n + {}) / {t})", t - 1, t - 1)
}

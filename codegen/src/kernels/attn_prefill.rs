use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{head_dim_axis, kv_table_extent, Ctx, KV_POOL_EXTENT};
use crate::variant::Variant;
use crate::MatrixUnit;

/// Query rows per workgroup: 16 per warp or wave (NVIDIA mma.sync and AMD WMMA: 8 of 32 lanes;
/// MFMA: 4 of 64).
const BQ: Per = Per::Unit { wmma: 128, mfma: 64, mma: 128 };
/// Threads per workgroup.
const THREADS: u32 = 256;

/// Keys per tile. NVIDIA: a warp holds S and P of its 16 rows for the whole tile in registers
/// beside its output (HEAD_DIM / 2 a thread), so the tile shrinks as the head grows (64, 32, 16
/// keys at D = 64, 128, 256; ptxas spills past that). AMD: K, V^T and the waves' P rows in LDS,
/// sized so that the variants emulated on NVIDIA fit its 48 KiB with the emulation's scratch:
/// MFMA 64 keys at D = 64, else 32 (24 KiB at D = 128, 42 KiB at D = 256 of a CDNA3 CU's 64);
/// WMMA (8 waves of P rows, and a larger scratch) 32, and 16 at D = 256.
fn keys_per_tile(unit: MatrixUnit, head_dim: u32) -> u32 {
    match unit {
        MatrixUnit::Mma => 4096 / head_dim,
        MatrixUnit::Mfma if head_dim > 64 => 32,
        MatrixUnit::Mfma => 64,
        MatrixUnit::Wmma if head_dim > 128 => 16,
        MatrixUnit::Wmma => 32,
    }
}

#[derive(Template)]
#[template(path = "attn_prefill.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    /// The matrix unit (`MatrixUnit::name`).
    unit: &'static str,
    /// gfx950's MFMA of K = 32.
    mfma_k32: bool,
    head_dim: u32,
    bq: u32,
    tk: u32,
}

fn render(v: &Variant) -> Result<String, askama::Error> {
    let (head_dim, unit) = (v.int("head_dim"), v.target.matrix_unit());
    Source {
        ctx: Ctx::new("attn_prefill.hip.j2", v),
        unit: unit.name(),
        mfma_k32: v.target.mfma_k32(),
        head_dim,
        bq: BQ.items(THREADS, v.target),
        tk: keys_per_tile(unit, head_dim),
    }
    .render()
}

pub fn family() -> Family {
    Family {
        name: "attn_prefill",
        template: "attn_prefill.hip.j2",
        summary: "causal (optionally sliding-window) attention of a prompt's tokens over the paged f16 KV cache",
        params: vec![
            output("out", Elem::F32, "n_tokens * n_head * head_dim"),
            input("q", Elem::F32, "n_tokens * n_head * head_dim"),
            input("k_cache", Elem::F16, KV_POOL_EXTENT),
            input("v_cache", Elem::F16, KV_POOL_EXTENT),
            input("kv_table", Elem::I32, kv_table_extent("pos0 + n_tokens")),
            scalar("n_tokens", Scalar::I32),
            scalar("n_head_kv", Scalar::I32),
            scalar("n_head", Scalar::I32),
            scalar("pos0", Scalar::I32),
            scalar("window", Scalar::I32),
            scalar("scale", Scalar::F32),
            scalar("kv_rows", Scalar::I32),
        ],
        axes: vec![head_dim_axis()],
        launch: Launch {
            threads: THREADS,
            grid: [Grid::CeilDiv("n_tokens", BQ), Grid::Dim("n_head"), Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::attention::attention",
        allow_scratch: false,
        tuning: &[],
        render,
    }
}

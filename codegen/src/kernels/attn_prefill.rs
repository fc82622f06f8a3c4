use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{head_dim_axis, kv_table_extent, Ctx, KV_POOL_EXTENT};
use crate::variant::Variant;
use crate::MatrixUnit;

/// Query rows per workgroup: 16 per warp pair on NVIDIA (mma.sync), 16 per wave on AMD (MFMA:
/// 4 waves of 64, WMMA: 8 waves of 32).
const BQ: Per = Per::Unit { wmma: 128, mfma: 64, mma: 64 };
/// Threads per workgroup.
const THREADS: u32 = 256;

/// Keys per tile. NVIDIA: K and V tiles of D=256 at 64 keys would pass the 48 KiB of static
/// shared memory. AMD: 32 from D=128 on keeps K, V^T and P under 32 KiB (two workgroups per
/// 64 KiB of LDS), and the emulated variants under NVIDIA's 48 KiB with the emulation's scratch.
fn keys_per_tile(unit: MatrixUnit, head_dim: u32) -> u32 {
    let limit = if unit == MatrixUnit::Mma { 128 } else { 64 };
    if head_dim > limit {
        32
    } else {
        64
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
        },
        reference: "backend::cpu::attention::attention",
        allow_scratch: false,
        tuning: &[],
        render,
    }
}

use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{head_dim_axis, kv_table_extent, Ctx, KV_POOL_EXTENT};
use crate::variant::Variant;
use crate::MatrixUnit;

/// Query rows per workgroup. NVIDIA (flash attention on mma.sync): 16 per warp pair. AMD (f32,
/// no matrix unit yet): with f32 Q and one shared f16 K/V tile this keeps D=256 at about 35 KiB
/// of shared memory; the template's thread mappings assume 16 rows and 256 threads.
const BQ: Per = Per::Unit { wmma: 16, mfma: 16, mma: 64 };
/// Threads per workgroup.
const THREADS: u32 = 256;

/// Keys per tile of the NVIDIA kernel: K and V tiles of D=256 at 64 keys would pass the 48 KiB
/// of static shared memory.
fn mma_keys_per_tile(head_dim: u32) -> u32 {
    if head_dim > 128 {
        32
    } else {
        64
    }
}

#[derive(Template)]
#[template(path = "attn_prefill.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    /// Whether the target has NVIDIA's mma.sync (the flash-attention path).
    unit: &'static str,
    head_dim: u32,
    bq: u32,
    tk: u32,
}

fn render(v: &Variant) -> Result<String, askama::Error> {
    let head_dim = v.int("head_dim");
    let unit = if v.target.matrix_unit() == MatrixUnit::Mma { "mma" } else { "f32" };
    let bq = BQ.items(THREADS, v.target);
    Source { ctx: Ctx::new("attn_prefill.hip.j2", v), unit, head_dim, bq, tk: mma_keys_per_tile(head_dim) }.render()
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
        matrix_units: &[MatrixUnit::Mma],
        tuning: &[],
        render,
    }
}

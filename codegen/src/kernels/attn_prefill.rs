use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{head_dim_axis, kv_table_extent, Ctx, KV_POOL_EXTENT};
use crate::variant::Variant;

/// Query rows per workgroup. With f32 Q and one shared f16 K/V tile this keeps D=256 at about
/// 35 KiB of shared memory; the template's thread mappings assume 16 rows and 256 threads.
const BQ: u32 = 16;

#[derive(Template)]
#[template(path = "attn_prefill.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    head_dim: u32,
    bq: u32,
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
            threads: 256,
            grid: [Grid::CeilDiv("n_tokens", Per::Items(BQ)), Grid::Dim("n_head"), Grid::One],
            dims: &[],
        },
        reference: "backend::cpu::attention::attention",
        allow_scratch: false,
        render: |v: &Variant| {
            Source { ctx: Ctx::new("attn_prefill.hip.j2", v), head_dim: v.int("head_dim"), bq: BQ }.render()
        },
    }
}

use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{head_dim_axis, Ctx, KV_POOL_EXTENT, KV_TABLES_EXTENT};
use crate::variant::Variant;

/// Head dims per lane of a key group (one 16-byte load of K and of V).
const VEC: u32 = 8;
/// Keys a group loads per pass, all before using any.
const UNROLL: u32 = 4;
const THREADS: u32 = 256;

/// Keys a workgroup covers in one pass at `head_dim` (one round trip to memory): the engine cuts
/// a context into splits of whole passes.
pub fn keys_per_pass(head_dim: u32) -> u32 {
    THREADS / (head_dim / VEC) * UNROLL
}

#[derive(Template)]
#[template(path = "attn_decode.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    head_dim: u32,
    vec: u32,
    unroll: u32,
    /// `keys_per_pass(head_dim)`, which the template checks against its own geometry.
    keys_per_pass: u32,
}

pub fn family() -> Family {
    Family {
        name: "attn_decode",
        template: "attn_decode.hip.j2",
        summary:
            "attention of query tokens, each of its own sequence, over the paged f16 KV cache, split-K: the keys a \
                  query sees cut into n_splits stretches of whole passes (keys_per_pass), unnormalised partials per \
                  split",
        params: vec![
            output("part_o", Elem::F32, "n_tokens * n_head * n_splits * head_dim"),
            output("part_ml", Elem::F32, "n_tokens * n_head * n_splits * 2"),
            input("q", Elem::F32, "n_tokens * n_head * head_dim"),
            input("k_cache", Elem::F16, KV_POOL_EXTENT),
            input("v_cache", Elem::F16, KV_POOL_EXTENT),
            input("kv_tables", Elem::I32, KV_TABLES_EXTENT),
            input("q_pos", Elem::I32, "n_tokens"),
            input("q_seq", Elem::I32, "n_tokens"),
            scalar("n_head_kv", Scalar::I32),
            scalar("n_head", Scalar::I32),
            scalar("window", Scalar::I32),
            scalar("scale", Scalar::F32),
            scalar("n_ctx", Scalar::I32),
            scalar("kv_rows", Scalar::I32),
            scalar("n_seq", Scalar::I32),
            scalar("table_stride", Scalar::I32),
        ],
        axes: vec![head_dim_axis()],
        launch: Launch {
            threads: THREADS,
            grid: [Grid::Dim("n_head"), Grid::Dim("n_splits"), Grid::Dim("n_tokens")],
            dims: &["n_splits", "n_tokens"],
            dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::attention::attention",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| {
            let head_dim = v.int("head_dim");
            let keys_per_pass = keys_per_pass(head_dim);
            Source { ctx: Ctx::new("attn_decode.hip.j2", v), head_dim, vec: VEC, unroll: UNROLL, keys_per_pass }
                .render()
        },
    }
}

use askama::Template;

use crate::catalog::{input, optional_input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{head_dim_axis, rope::mode_axis, Ctx, KV_POOL_EXTENT, KV_TABLES_EXTENT};
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "rope_kv.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    head_dim: u32,
    neox: bool,
}

pub fn family() -> Family {
    Family {
        name: "rope_kv",
        template: "rope_kv.hip.j2",
        summary: "rope on Q in place, and on K stored with V into the paged f16 cache at pos[t] of sequence seq[t] (one launch)",
        params: vec![
            output("q", Elem::F32, "n_tokens * n_head * head_dim"),
            output("k_cache", Elem::F16, KV_POOL_EXTENT),
            output("v_cache", Elem::F16, KV_POOL_EXTENT),
            input("kv_tables", Elem::I32, KV_TABLES_EXTENT),
            input("k", Elem::F32, "n_tokens * n_head_kv * head_dim"),
            input("v", Elem::F32, "n_tokens * n_head_kv * head_dim"),
            input("pos", Elem::I32, "n_tokens"),
            input("seq", Elem::I32, "n_tokens"),
            optional_input("factors", Elem::F32, "n_rot / 2"),
            scalar("n_head", Scalar::I32),
            scalar("n_head_kv", Scalar::I32),
            scalar("n_rot", Scalar::I32),
            scalar("n_ctx", Scalar::I32),
            scalar("kv_rows", Scalar::I32),
            scalar("n_seq", Scalar::I32),
            scalar("table_stride", Scalar::I32),
            scalar("theta_scale", Scalar::F32),
            scalar("freq_scale", Scalar::F32),
        ],
        axes: vec![mode_axis(), head_dim_axis()],
        launch: Launch {
            threads: 64,
            grid: [Grid::Dim("n_heads_all"), Grid::Dim("n_tokens"), Grid::One],
            dims: &["n_heads_all", "n_tokens"], dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::ops::rope + backend::cpu::KvCache::store",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| {
            Source { ctx: Ctx::new("rope_kv.hip.j2", v), head_dim: v.int("head_dim"), neox: v.word("mode") == "neox" }
                .render()
        },
    }
}

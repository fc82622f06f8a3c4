use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "kv_append.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
}

pub fn family() -> Family {
    Family {
        name: "kv_append",
        template: "kv_append.hip.j2",
        summary: "new K/V rows (f32) into the f16 cache, row t at position pos[t] (read on the device)",
        params: vec![
            output("k_cache", Elem::F16, "n_ctx * kv_dim"),
            output("v_cache", Elem::F16, "n_ctx * kv_dim"),
            input("k", Elem::F32, "n_tokens * kv_dim"),
            input("v", Elem::F32, "n_tokens * kv_dim"),
            input("pos", Elem::I32, "n_tokens"),
            scalar("kv_dim", Scalar::I32),
            scalar("n_ctx", Scalar::I32),
        ],
        axes: vec![],
        launch: Launch {
            threads: 256,
            grid: [Grid::CeilDiv("kv_dim", Per::Thread), Grid::Dim("n_tokens"), Grid::One],
            dims: &["n_tokens"],
        },
        reference: "backend::cpu::kv_cache::KvCache::store",
        allow_scratch: false,
        render: |v: &Variant| Source { ctx: Ctx::new("kv_append.hip.j2", v) }.render(),
    }
}

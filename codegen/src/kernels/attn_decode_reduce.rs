use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{head_dim_axis, Ctx};
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "attn_decode_reduce.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    head_dim: u32,
}

pub fn family() -> Family {
    Family {
        name: "attn_decode_reduce",
        template: "attn_decode_reduce.hip.j2",
        summary: "combines attn_decode's per-split partials into the normalised output, also quantized to q8_1",
        params: vec![
            output("out", Elem::F32, "n_head * head_dim"),
            output("xq", Elem::Q8_1, "n_head * head_dim / 32"),
            input("part_o", Elem::F32, "n_head * n_splits * head_dim"),
            input("part_ml", Elem::F32, "n_head * n_splits * 2"),
            scalar("n_splits", Scalar::I32),
        ],
        axes: vec![head_dim_axis()],
        launch: Launch {
            threads: 256,
            grid: [Grid::Dim("n_head"), Grid::One, Grid::One],
            dims: &["n_head"],
            dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::attention::attention",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| {
            Source { ctx: Ctx::new("attn_decode_reduce.hip.j2", v), head_dim: v.int("head_dim") }.render()
        },
    }
}

use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{act_axis, Ctx};
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "glu.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    act: &'static str,
}

pub fn family() -> Family {
    Family {
        name: "glu",
        template: "glu.hip.j2",
        summary: "out = act(gate) * up (SwiGLU with silu, GeGLU with gelu)",
        params: vec![
            output("out", Elem::F32, "n"),
            input("gate", Elem::F32, "n"),
            input("up", Elem::F32, "n"),
            scalar("n", Scalar::I32),
        ],
        axes: vec![act_axis()],
        launch: Launch {
            threads: 256,
            grid: [Grid::CeilDiv("n", Per::Thread), Grid::One, Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::ops::swiglu / backend::cpu::ops::geglu",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| Source { ctx: Ctx::new("glu.hip.j2", v), act: v.word("act") }.render(),
    }
}

use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "argmax.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
}

pub fn family() -> Family {
    Family {
        name: "argmax",
        template: "argmax.hip.j2",
        summary: "index of the largest logit per row (greedy sampling)",
        params: vec![output("out", Elem::I32, "n_rows"), input("x", Elem::F32, "n * n_rows"), scalar("n", Scalar::I32)],
        axes: vec![],
        launch: Launch {
            threads: 1024,
            grid: [Grid::Dim("n_rows"), Grid::One, Grid::One],
            dims: &["n_rows"],
            dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::sample::argmax",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| Source { ctx: Ctx::new("argmax.hip.j2", v) }.render(),
    }
}

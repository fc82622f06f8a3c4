use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "rmsnorm.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
}

pub fn family() -> Family {
    Family {
        name: "rmsnorm",
        template: "rmsnorm.hip.j2",
        summary: "y = x / rms(x) * w per row",
        params: vec![
            output("y", Elem::F32, "n * n_rows"),
            input("x", Elem::F32, "n * n_rows"),
            input("w", Elem::F32, "n"),
            scalar("n", Scalar::I32),
            scalar("eps", Scalar::F32),
        ],
        axes: vec![],
        launch: Launch {
            threads: 256,
            grid: [Grid::Dim("n_rows"), Grid::One, Grid::One],
            dims: &["n_rows"],
            dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::ops::rmsnorm",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| Source { ctx: Ctx::new("rmsnorm.hip.j2", v) }.render(),
    }
}

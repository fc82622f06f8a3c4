use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "add_rows.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
}

pub fn family() -> Family {
    Family {
        name: "add_rows",
        template: "add_rows.hip.j2",
        summary: "x[t] += b for every row of n (a projection's bias)",
        params: vec![output("x", Elem::F32, "n * n_tokens"), input("b", Elem::F32, "n"), scalar("n", Scalar::I32)],
        axes: vec![],
        launch: Launch {
            threads: 256,
            grid: [Grid::CeilDiv("n", Per::Thread), Grid::Dim("n_tokens"), Grid::One],
            dims: &["n_tokens"],
            dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::vec::add_assign",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| Source { ctx: Ctx::new("add_rows.hip.j2", v) }.render(),
    }
}

use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;

/// Threads per workgroup; each converts 8 elements.
const THREADS: u32 = 256;

#[derive(Template)]
#[template(path = "to_f16.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
}

pub fn family() -> Family {
    Family {
        name: "to_f16",
        template: "to_f16.hip.j2",
        summary: "f32 activations rounded to f16 (the input of the prefill GEMM); x and out 16-byte aligned",
        params: vec![output("out", Elem::F16, "n"), input("x", Elem::F32, "n"), scalar("n", Scalar::I64)],
        axes: vec![],
        launch: Launch {
            threads: THREADS,
            grid: [Grid::CeilDiv("n", Per::Items(8 * THREADS)), Grid::One, Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "half::f16::from_f32",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| Source { ctx: Ctx::new("to_f16.hip.j2", v) }.render(),
    }
}

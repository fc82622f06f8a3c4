use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "rmsnorm_add.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
}

pub fn family() -> Family {
    Family {
        name: "rmsnorm_add",
        template: "rmsnorm_add.hip.j2",
        summary: "h += r, then y = h / rms(h) * w per row and y quantized to q8_1 (the residual add, the norm and \
                  the mat-vecs' quantization in one pass); n a multiple of 32",
        params: vec![
            output("y", Elem::F32, "n * n_rows"),
            output("xq", Elem::Q8_1, "n * n_rows / 32"),
            output("h", Elem::F32, "n * n_rows"),
            input("r", Elem::F32, "n * n_rows"),
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
        reference: "backend::cpu::vec::add_assign + backend::cpu::ops::rmsnorm + quant::quantize_row (Q8_1)",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| Source { ctx: Ctx::new("rmsnorm_add.hip.j2", v) }.render(),
    }
}

use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;

/// Columns one workgroup quantizes: four per thread.
const COLS_PER_GROUP: u32 = 1024;

#[derive(Template)]
#[template(path = "quantize_q8_1.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
}

pub fn family() -> Family {
    Family {
        name: "quantize_q8_1",
        template: "quantize_q8_1.hip.j2",
        summary: "x [n_rows][n_cols] f32 to q8_1 blocks of 32 (the mat-vec's activations), bit for bit the \
                  CPU's quantizer; n_cols a multiple of 32",
        params: vec![
            output("xq", Elem::Q8_1, "n_rows * n_cols / 32"),
            input("x", Elem::F32, "n_rows * n_cols"),
            scalar("n_cols", Scalar::I32),
            scalar("n_rows", Scalar::I32),
        ],
        axes: vec![],
        launch: Launch {
            threads: 256,
            grid: [Grid::Dim("n_rows"), Grid::CeilDiv("n_cols", Per::Items(COLS_PER_GROUP)), Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "quant::quantize_row (Q8_1)",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| Source { ctx: Ctx::new("quantize_q8_1.hip.j2", v) }.render(),
    }
}

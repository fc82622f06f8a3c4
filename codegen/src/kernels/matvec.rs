use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{quant_axis, Ctx};
use crate::quant::Quant;
use crate::variant::Variant;

/// Rows one workgroup computes (two per wave on wave32 targets, four on wave64): the activations
/// it stages in shared memory serve them all.
pub const MATVEC_ROWS: u32 = 16;

#[derive(Template)]
#[template(path = "matvec.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    quant: Quant,
    rows: u32,
}

pub fn family() -> Family {
    Family {
        name: "matvec",
        template: "matvec.hip.j2",
        summary: "y = W x for quantized W and x quantized to q8_1 (decode): integer dot products, \
                  several rows per workgroup; W 16-byte aligned, n_cols a multiple of the block size",
        params: vec![
            output("y", Elem::F32, "n_rows"),
            input("w", Elem::QuantBlock, "n_rows * n_cols / BLOCK"),
            input("xq", Elem::Q8_1, "n_cols / 32"),
            scalar("n_cols", Scalar::I32),
            scalar("n_rows", Scalar::I32),
        ],
        axes: vec![quant_axis()],
        launch: Launch {
            threads: 256,
            grid: [Grid::CeilDiv("n_rows", Per::Items(MATVEC_ROWS)), Grid::One, Grid::One],
            dims: &[],
        },
        reference: "quant::quantize_row (Q8_1) + quant::dequantize_row, dot in f64",
        allow_scratch: false,
        matrix_units: &[],
        render: |v: &Variant| {
            let quant = v.quant().expect("matvec has a quant axis");
            Source { ctx: Ctx::new("matvec.hip.j2", v), quant, rows: MATVEC_ROWS }.render()
        },
    }
}

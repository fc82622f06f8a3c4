use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{quant_axis, Ctx};
use crate::quant::Quant;
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "dequant.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    quant: Quant,
}

pub fn family() -> Family {
    Family {
        name: "dequant",
        template: "dequant.hip.j2",
        summary: "quantized weights to f16 (input of the prefill GEMM); out 16-byte aligned",
        params: vec![
            output("out", Elem::F16, "n_sub * 32"),
            input("w", Elem::QuantBlock, "n_sub * 32 / BLOCK"),
            scalar("n_sub", Scalar::I64),
        ],
        axes: vec![quant_axis()],
        launch: Launch {
            threads: 256,
            grid: [Grid::CeilDiv("n_sub", Per::Thread), Grid::One, Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "quant::dequantize_row",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| {
            Source { ctx: Ctx::new("dequant.hip.j2", v), quant: v.quant().expect("dequant has a quant axis") }.render()
        },
    }
}

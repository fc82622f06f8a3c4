use askama::Template;

use crate::catalog::{input, output, scalar, Axis, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::quant::Quant;
use crate::variant::{AxisValue, Variant};

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
        summary: "quantized weights to f16 (input of the prefill GEMM)",
        params: vec![output("out", Elem::F16), input("w", Elem::QuantBlock), scalar("n_sub", Scalar::I64)],
        axes: vec![Axis { name: "quant", values: Quant::ALL.iter().map(|&q| AxisValue::Quant(q)).collect() }],
        launch: Launch { threads: 256, grid: [Grid::CeilDiv("n_sub", Per::Thread), Grid::One, Grid::One], dims: &[] },
        reference: "quant::dequantize_row",
        allow_scratch: false,
        render: |v: &Variant| Source { ctx: Ctx::new("dequant.hip.j2", v), quant: v.quant().expect("dequant has a quant axis") }.render(),
    }
}

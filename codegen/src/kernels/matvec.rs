use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{quant_axis, Ctx};
use crate::quant::Quant;
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "matvec.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    quant: Quant,
}

pub fn family() -> Family {
    Family {
        name: "matvec",
        template: "matvec.hip.j2",
        summary: "y = W x for quantized W (decode), f32 accumulation, one wave per row",
        params: vec![
            output("y", Elem::F32),
            input("w", Elem::QuantBlock),
            input("x", Elem::F32),
            scalar("n_cols", Scalar::I32),
            scalar("n_rows", Scalar::I32),
        ],
        axes: vec![quant_axis()],
        launch: Launch { threads: 256, grid: [Grid::CeilDiv("n_rows", Per::Wave), Grid::One, Grid::One], dims: &[] },
        reference: "quant::dequantize_row + backend::cpu::vec::dot",
        allow_scratch: false,
        render: |v: &Variant| {
            Source { ctx: Ctx::new("matvec.hip.j2", v), quant: v.quant().expect("matvec has a quant axis") }.render()
        },
    }
}

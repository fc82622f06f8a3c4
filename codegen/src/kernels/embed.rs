use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{quant_axis, Ctx};
use crate::quant::Quant;
use crate::variant::Variant;

/// Threads per workgroup; each dequantizes 32 weights.
const THREADS: u32 = 64;

#[derive(Template)]
#[template(path = "embed.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    quant: Quant,
}

pub fn family() -> Family {
    Family {
        name: "embed",
        template: "embed.hip.j2",
        summary: "token embedding lookup: out[t] = scale * dequantized row ids[t] (ids read on the device)",
        params: vec![
            output("out", Elem::F32, "n_tokens * n_cols"),
            input("w", Elem::QuantBlock, "n_vocab * n_cols / BLOCK"),
            input("ids", Elem::I32, "n_tokens"),
            scalar("n_cols", Scalar::I32),
            scalar("n_vocab", Scalar::I32),
            scalar("scale", Scalar::F32),
        ],
        axes: vec![quant_axis()],
        launch: Launch {
            threads: THREADS,
            grid: [Grid::CeilDiv("n_cols", Per::Items(32 * THREADS)), Grid::Dim("n_tokens"), Grid::One],
            dims: &["n_tokens"],
            dynamic_shared: Per::Items(0),
        },
        reference: "quant::dequantize_row + backend::cpu::vec::scale",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| {
            Source { ctx: Ctx::new("embed.hip.j2", v), quant: v.quant().expect("embed has a quant axis") }.render()
        },
    }
}

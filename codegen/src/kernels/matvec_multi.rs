use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar, Tuning};
use crate::kernels::matvec::MATVEC_ROWS;
use crate::kernels::{loads_axis, quant_axis, rows_axis, Ctx};
use crate::quant::Quant;
use crate::variant::Variant;

#[derive(Template)]
#[template(path = "matvec_multi.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    quant: Quant,
    rows: u32,
    loads: u32,
}

/// Rows per workgroup and loads in flight per lane, tuned per shape as `matvec`'s, with its
/// defaults.
const ROWS: Tuning = Tuning { axis: "rows", default: MATVEC_ROWS, by_quant: &[] };
const LOADS: Tuning = Tuning { axis: "loads", default: 8, by_quant: &[] };

pub fn family() -> Family {
    Family {
        name: "matvec_multi",
        template: "matvec_multi.hip.j2",
        summary: "y_m = W_m x for up to three quantized matrices of one q8_1 input (Q, K and V) in one launch, \
                  as matvec; matrix a the largest; b or c absent when its rows are 0 (empty views)",
        params: vec![
            output("y_a", Elem::F32, "rows_a"),
            output("y_b", Elem::F32, "rows_b"),
            output("y_c", Elem::F32, "rows_c"),
            input("w_a", Elem::QuantBlock, "rows_a * n_cols / BLOCK"),
            input("w_b", Elem::QuantBlock, "rows_b * n_cols / BLOCK"),
            input("w_c", Elem::QuantBlock, "rows_c * n_cols / BLOCK"),
            input("xq", Elem::Q8_1, "n_cols / 32"),
            scalar("n_cols", Scalar::I32),
            scalar("rows_a", Scalar::I32),
            scalar("rows_b", Scalar::I32),
            scalar("rows_c", Scalar::I32),
        ],
        axes: vec![quant_axis(), rows_axis(&[8, 16]), loads_axis(&[8, 16])],
        launch: Launch {
            threads: 256,
            grid: [Grid::CeilDivAxis("rows_a", "rows"), Grid::Fixed(3), Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "matvec's, for each matrix",
        allow_scratch: false,
        tuning: &[ROWS, LOADS],
        render: |v: &Variant| {
            let quant = v.quant().expect("matvec_multi has a quant axis");
            let (rows, loads) = (v.int("rows"), v.int("loads"));
            Source { ctx: Ctx::new("matvec_multi.hip.j2", v), quant, rows, loads }.render()
        },
    }
}

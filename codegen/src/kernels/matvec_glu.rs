use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar, Tuning};
use crate::kernels::{act_axis, loads_axis, quant_axis, Ctx};
use crate::quant::Quant;
use crate::variant::Variant;

/// Rows one workgroup computes: half of `matvec`'s, as each row reads two matrices. (Not tuned:
/// at 16 rows the Q3_K variant spills registers on sm_90.)
pub const MATVEC_GLU_ROWS: u32 = 8;

/// Loads in flight per lane, tuned per shape: each row reads two matrices, and 12 beat 8 on an
/// H200 (before tuning existed).
const LOADS: Tuning = Tuning { axis: "loads", default: 12, by_quant: &[] };

#[derive(Template)]
#[template(path = "matvec_glu.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    quant: Quant,
    act: &'static str,
    rows: u32,
    loads: u32,
}

pub fn family() -> Family {
    Family {
        name: "matvec_glu",
        template: "matvec_glu.hip.j2",
        summary: "y = act(W_gate x) * (W_up x) for x quantized to q8_1: the FFN's gate and up mat-vecs and the \
                  activation in one pass",
        params: vec![
            output("y", Elem::F32, "n_rows"),
            input("w_gate", Elem::QuantBlock, "n_rows * n_cols / BLOCK"),
            input("w_up", Elem::QuantBlock, "n_rows * n_cols / BLOCK"),
            input("xq", Elem::Q8_1, "n_cols / 32"),
            scalar("n_cols", Scalar::I32),
            scalar("n_rows", Scalar::I32),
        ],
        axes: vec![quant_axis(), act_axis(), loads_axis(&[12, 16])],
        launch: Launch {
            threads: 256,
            grid: [Grid::CeilDiv("n_rows", Per::Items(MATVEC_GLU_ROWS)), Grid::One, Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "matvec's reference for both matrices + backend::cpu::ops::swiglu / gelu_tanh",
        allow_scratch: false,
        tuning: &[LOADS],
        render: |v: &Variant| {
            let quant = v.quant().expect("matvec_glu has a quant axis");
            let (act, loads) = (v.word("act"), v.int("loads"));
            Source { ctx: Ctx::new("matvec_glu.hip.j2", v), quant, act, rows: MATVEC_GLU_ROWS, loads }.render()
        },
    }
}

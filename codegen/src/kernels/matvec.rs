use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar, Tuning};
use crate::kernels::{loads_axis, quant_axis, rows_axis, Ctx};
use crate::quant::Quant;
use crate::variant::Variant;

/// Rows one workgroup computes, tuned per shape: the activations it stages in shared memory serve
/// them all, and fewer rows make more workgroups for a small matrix. 16 (two per wave on wave32,
/// four on wave64) measured best on an H200 for 4096-column weights; 32 spills registers for Q3_K
/// on gfx942 and was slower for every format at 4096x4096 (more rows a workgroup, fewer
/// workgroups).
pub const MATVEC_ROWS: u32 = 16;
/// Q4_0, Q4_1, Q5_0 and Q8_0 take 8 where untuned. On an H200 (`bench-kernels
/// --every-tuning`), Q8_0 at 4096x4096 4.99 against 5.97 µs (84 against 70 % of the copy rate),
/// 14336x4096 the same. The formats regrouped on the device (`Quant::device_fields`), at
/// 4096x4096 / 14336x4096: Q4_0 3.54 / 10.2 against 4.03 / 10.3 µs, Q4_1 3.56 / 10.7 against
/// 4.11 / 10.8, Q5_0 4.19 / 13.0 against 5.41 / 14.4. Q6_K, regrouped too, is faster at 16:
/// 4.93 / 15.4 against 6.12 / 15.7 µs (its 8-row workgroups, at 80 registers, do not all fit at
/// once at 4096 rows).
const ROWS: Tuning = Tuning {
    axis: "rows",
    default: MATVEC_ROWS,
    by_quant: &[(Quant::Q4_0, 8), (Quant::Q4_1, 8), (Quant::Q5_0, 8), (Quant::Q8_0, 8)],
};

/// Loads in flight per lane, tuned per shape: 8 measured best on an H200 for most formats at
/// 4096 columns (before tuning existed). Q4_K takes 16 where untuned since its blocks are
/// regrouped: on an H100 4096x4096 4.24 against 4.76 µs before (74 against 66 % of the copy
/// rate), 14336x4096 13.12 against 12.57 (84 against 87 %), 1024x4096 1.74 against 2.98. Q2_K
/// and Q3_K, regrouped too, count their items as Q4_K's and take 16 as well: at 16 rows a
/// workgroup, a 4096-column row's loads then all go out before the wait.
const LOADS: Tuning =
    Tuning { axis: "loads", default: 8, by_quant: &[(Quant::Q4K, 16), (Quant::Q3K, 16), (Quant::Q2K, 16)] };

#[derive(Template)]
#[template(path = "matvec.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    quant: Quant,
    rows: u32,
    loads: u32,
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
        axes: vec![quant_axis(), rows_axis(&[8, 16]), loads_axis(&[8, 16])],
        launch: Launch {
            threads: 256,
            grid: [Grid::CeilDivAxis("n_rows", "rows"), Grid::One, Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "quant::quantize_row (Q8_1) + quant::dequantize_row, dot in f64",
        allow_scratch: false,
        tuning: &[ROWS, LOADS],
        render: |v: &Variant| {
            let quant = v.quant().expect("matvec has a quant axis");
            let (rows, loads) = (v.int("rows"), v.int("loads"));
            Source { ctx: Ctx::new("matvec.hip.j2", v), quant, rows, loads }.render()
        },
    }
}

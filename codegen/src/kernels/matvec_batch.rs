use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{quant_axis, Ctx};
use crate::quant::Quant;
use crate::variant::Variant;

/// Tokens one workgroup multiplies by each weight it reads (llama.cpp's mmvq goes to 8 too):
/// more would cost registers, and so the occupancy that hides the weights' latency. On wave64,
/// 8 took more than gfx942's 512 registers for the 256-weight formats.
const TOKENS: Per = Per::WaveSize { wave32: 8, wave64: 4 };
/// Rows one workgroup computes: one a wave (8 on wave32, 4 on wave64). Each row's items feed
/// every token's dot products, so a second row per wave would not fit the registers of every format
/// (224 to 255 on sm_90 for the 256-weight ones, 524 of gfx942's 512).
const ROWS: Per = Per::Wave;
/// Threads per workgroup.
const THREADS: u32 = 256;

#[derive(Template)]
#[template(path = "matvec_batch.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    quant: Quant,
    rows: u32,
    tokens: u32,
}

pub fn family() -> Family {
    Family {
        name: "matvec_batch",
        template: "matvec_batch.hip.j2",
        summary: "y[t] = W x[t] for a few tokens (several sequences decoding), W quantized, x quantized to q8_1: \
                  matvec's integer dot products with each weight read once for 8 tokens (4 on wave64)",
        params: vec![
            output("y", Elem::F32, "n_tokens * n_rows"),
            input("w", Elem::QuantBlock, "n_rows * n_cols / BLOCK"),
            input("xq", Elem::Q8_1, "n_tokens * n_cols / 32"),
            scalar("n_cols", Scalar::I32),
            scalar("n_rows", Scalar::I32),
            scalar("n_tokens", Scalar::I32),
        ],
        axes: vec![quant_axis()],
        launch: Launch {
            threads: THREADS,
            grid: [Grid::CeilDiv("n_tokens", TOKENS), Grid::CeilDiv("n_rows", ROWS), Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "matvec's reference for each token",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| {
            let quant = v.quant().expect("matvec_batch has a quant axis");
            let (rows, tokens) = (ROWS.items(THREADS, v.target), TOKENS.items(THREADS, v.target));
            Source { ctx: Ctx::new("matvec_batch.hip.j2", v), quant, rows, tokens }.render()
        },
    }
}

use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::sample::K_MAX;
use crate::kernels::Ctx;
use crate::variant::Variant;

/// Logits one workgroup of the first stage covers.
pub const SLICE: u32 = 4096;

#[derive(Template)]
#[template(path = "topk.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    k_max: u32,
    slice: u32,
}

/// Candidates the stage writes: `top_k` for every slice of every row.
fn candidates() -> String {
    format!("n_rows * ((n + {SLICE} - 1) / {SLICE}) * top_k")
}

pub fn family() -> Family {
    Family {
        name: "topk",
        template: "topk.hip.j2",
        summary: "sampling's first stage: the top-k logits of every slice of a row, with their token ids",
        params: vec![
            output("cand_v", Elem::F32, candidates()),
            output("cand_i", Elem::I32, candidates()),
            input("logits", Elem::F32, "n * n_rows"),
            scalar("n", Scalar::I32),
            scalar("top_k", Scalar::I32),
        ],
        axes: vec![],
        launch: Launch {
            threads: 256,
            grid: [Grid::CeilDiv("n", Per::Items(SLICE)), Grid::Dim("n_rows"), Grid::One],
            dims: &["n_rows"],
            dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::sample::pick (its top-k)",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| Source { ctx: Ctx::new("topk.hip.j2", v), k_max: K_MAX, slice: SLICE }.render(),
    }
}

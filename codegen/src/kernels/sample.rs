use askama::Template;

use crate::catalog::{input, optional_input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;

/// The largest top-k the kernel takes (llama.cpp's default is 40); larger k and k = 0 (no
/// top-k) sample on the CPU.
pub const K_MAX: u32 = 128;

#[derive(Template)]
#[template(path = "sample.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    k_max: u32,
}

pub fn family() -> Family {
    Family {
        name: "sample",
        template: "sample.hip.j2",
        summary: "top-k / top-p / min-p / temperature sampling with a host-drawn uniform, per row",
        params: vec![
            output("out", Elem::I32, "n_rows"),
            input("logits", Elem::F32, "n * n_rows"),
            optional_input("idx", Elem::I32, "n * n_rows"),
            input("r", Elem::F32, "n_rows"),
            scalar("n", Scalar::I32),
            scalar("top_k", Scalar::I32),
            scalar("top_p", Scalar::F32),
            scalar("min_p", Scalar::F32),
            scalar("temperature", Scalar::F32),
        ],
        axes: vec![],
        launch: Launch {
            threads: 256,
            grid: [Grid::Dim("n_rows"), Grid::One, Grid::One],
            dims: &["n_rows"],
            dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::sample::pick",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| Source { ctx: Ctx::new("sample.hip.j2", v), k_max: K_MAX }.render(),
    }
}

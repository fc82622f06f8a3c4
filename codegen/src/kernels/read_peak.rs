//! The read rate of a dependent launch, the yardstick of the mat-vecs in `bench-kernels`: a
//! workgroup issues all its 16-byte loads before it waits for the kernels before it, as the
//! mat-vec issues its weights', and after the wait only XORs them. What a chain of such launches
//! reads per second is what a mat-vec of the same bytes could reach with free arithmetic.

use askama::Template;

use crate::catalog::{input, output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::Ctx;
use crate::variant::Variant;

/// Threads per workgroup.
const THREADS: u32 = 256;
/// 16-byte loads a thread issues before the wait (4 measured best on the H200 among 2, 4 and 8
/// in a standalone harness; the mat-vec issues up to 16).
const LOADS: u32 = 4;
/// The 16-byte words workgroup g reads: [g WORDS_PER_GROUP, (g + 1) WORDS_PER_GROUP), those below n.
pub const WORDS_PER_GROUP: u32 = THREADS * LOADS;

#[derive(Template)]
#[template(path = "read_peak.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    loads: u32,
}

pub fn family() -> Family {
    Family {
        name: "read_peak",
        template: "read_peak.hip.j2",
        summary: "the read rate of a dependent launch: workgroup g loads 16-byte words [g W, (g + 1) W) of words \
                  (W = read_peak::WORDS_PER_GROUP, those below n) before waiting for the kernels before it, and \
                  writes their XOR to x[g]",
        params: vec![
            output("x", Elem::U32, format!("(n + {}) / {WORDS_PER_GROUP}", WORDS_PER_GROUP - 1)),
            input("words", Elem::U32, "4 * n"),
            scalar("n", Scalar::I64),
        ],
        axes: vec![],
        launch: Launch {
            threads: THREADS,
            grid: [Grid::CeilDiv("n", Per::Items(WORDS_PER_GROUP)), Grid::One, Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "the XOR of each workgroup's words",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| Source { ctx: Ctx::new("read_peak.hip.j2", v), loads: LOADS }.render(),
    }
}

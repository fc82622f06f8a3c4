use askama::Template;

use crate::catalog::{input, optional_input, output, scalar, Axis, Elem, Family, Grid, Launch, Per, Scalar};
use crate::kernels::{head_dim_axis, Ctx};
use crate::variant::{AxisValue, Variant};

#[derive(Template)]
#[template(path = "rope.hip.j2", escape = "none")]
struct Source {
    ctx: Ctx,
    head_dim: u32,
    neox: bool,
}

/// `mode`: how a head's dimensions pair up, llama's (2i, 2i+1) or NeoX's (i, i + n_rot/2).
pub fn mode_axis() -> Axis {
    Axis { name: "mode", values: vec![AxisValue::Word("norm"), AxisValue::Word("neox")] }
}

pub fn family() -> Family {
    Family {
        name: "rope",
        template: "rope.hip.j2",
        summary: "rotary position embedding in place, per head",
        params: vec![
            output("x", Elem::F32, "n_tokens * n_heads * head_dim"),
            input("pos", Elem::I32, "n_tokens"),
            optional_input("factors", Elem::F32, "n_rot / 2"),
            scalar("n_heads", Scalar::I32),
            scalar("n_rot", Scalar::I32),
            scalar("theta_scale", Scalar::F32),
            scalar("freq_scale", Scalar::F32),
        ],
        axes: vec![mode_axis(), head_dim_axis()],
        launch: Launch {
            threads: 128,
            grid: [Grid::Dim("n_heads"), Grid::Dim("n_tokens"), Grid::One],
            dims: &["n_tokens"],
            dynamic_shared: Per::Items(0),
        },
        reference: "backend::cpu::ops::rope",
        allow_scratch: false,
        tuning: &[],
        render: |v: &Variant| {
            Source { ctx: Ctx::new("rope.hip.j2", v), head_dim: v.int("head_dim"), neox: v.word("mode") == "neox" }
                .render()
        },
    }
}

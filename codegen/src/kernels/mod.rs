//! The kernel catalog: one module per family, each with its declaration (signature, axes,
//! launch rule, CPU reference) and the Askama context of its template in `templates/`.

mod add_rows;
mod argmax;
pub mod attn_decode;
mod attn_decode_reduce;
mod attn_prefill;
mod dequant;
mod embed;
pub mod gemm_f16;
mod glu;
mod matvec;
mod matvec_batch;
mod matvec_glu;
mod matvec_multi;
pub mod mma_peak;
mod quantize_q8_1;
pub mod read_peak;
mod rmsnorm;
mod rmsnorm_add;
mod rope;
mod rope_kv;
pub mod sample;
mod softmax;
mod to_f16;
pub mod topk;

use crate::catalog::{Axis, Family};
use crate::quant::Quant;
use crate::variant::{AxisValue, Variant};
use crate::{Host, Vendor};

/// Positions per block of the paged KV cache: the runtime's block tables
/// (`backend::kv_blocks`) and the kernels that read them share this one value.
pub const KV_BLOCK: u32 = 16;

/// The extent of a block table that covers `positions` positions.
pub fn kv_table_extent(positions: &str) -> String {
    format!("({positions} + {}) / {KV_BLOCK}", KV_BLOCK - 1)
}

/// The extent of the block tables of `n_seq` sequences, `table_stride` entries apart.
pub const KV_TABLES_EXTENT: &str = "n_seq * table_stride";

/// The extent of one layer's key (or value) block pool: `kv_rows` rows of the KV width.
pub const KV_POOL_EXTENT: &str = "kv_rows * n_head_kv * head_dim";

/// Head sizes of the models we run (64: llama 3.2 1B; 128: llama 8B, qwen2, mistral; 256: gemma3).
pub const HEAD_DIMS: [u32; 3] = [64, 128, 256];

/// `head_dim`: one variant per size in [`HEAD_DIMS`].
pub fn head_dim_axis() -> Axis {
    Axis { name: "head_dim", values: HEAD_DIMS.iter().map(|&d| AxisValue::Int(d)).collect() }
}

/// `quant`: one variant per weight format the GPU reads.
pub fn quant_axis() -> Axis {
    Axis { name: "quant", values: Quant::ALL.iter().map(|&q| AxisValue::Quant(q)).collect() }
}

/// `rows`: rows one workgroup of a mat-vec computes, a tuning axis. Every value is a multiple of
/// the waves of a 256-thread workgroup on wave32 (8) and wave64 (4).
pub fn rows_axis(values: &[u32]) -> Axis {
    Axis { name: "rows", values: values.iter().map(|&n| AxisValue::Int(n)).collect() }
}

/// `loads`: 16-byte loads a lane of a mat-vec keeps in flight (`LOAD_BUDGET` in
/// partials/matvec.hip.j2), a tuning axis. More hide more DRAM latency, but cost registers and
/// so occupancy; a format of many loads an item (Q6_K: 5) has one item a row in flight at 8.
pub fn loads_axis(values: &[u32]) -> Axis {
    Axis { name: "loads", values: values.iter().map(|&n| AxisValue::Int(n)).collect() }
}

/// `act`: the gated unit's activation, SiLU (SwiGLU: llama, qwen2) or GELU (GeGLU: gemma).
pub fn act_axis() -> Axis {
    Axis { name: "act", values: vec![AxisValue::Word("silu"), AxisValue::Word("gelu")] }
}

/// Every kernel family, in the order bundles list them.
pub fn catalog() -> Vec<Family> {
    vec![
        rmsnorm::family(),
        rmsnorm_add::family(),
        rope::family(),
        glu::family(),
        softmax::family(),
        quantize_q8_1::family(),
        matvec::family(),
        matvec_batch::family(),
        matvec_glu::family(),
        matvec_multi::family(),
        dequant::family(),
        gemm_f16::family(),
        mma_peak::family(),
        read_peak::family(),
        attn_decode::family(),
        attn_decode_reduce::family(),
        attn_prefill::family(),
        argmax::family(),
        sample::family(),
        embed::family(),
        add_rows::family(),
        to_f16::family(),
        rope_kv::family(),
        topk::family(),
    ]
}

/// What every template's prelude needs: the target, the wave and workgroup sizes, the names.
pub struct Ctx {
    pub template: &'static str,
    pub key: String,
    pub symbol: String,
    pub target: &'static str,
    /// Where the code runs: `target`, or the GPU or CPU emulating its wave.
    pub host: &'static str,
    /// Whether `host` emulates the target's wave (the emulating prelude then gives
    /// `rf_emulated_wave_sync`).
    pub emulated: bool,
    pub wave: u32,
    pub threads: u32,
    pub nvidia: bool,
    /// Runs in the CPU's kernel simulator (`templates/prelude/cpu.h`).
    pub cpu: bool,
    pub kv_block: u32,
}

impl Ctx {
    pub fn new(template: &'static str, v: &Variant) -> Self {
        Ctx {
            template,
            key: v.key(),
            symbol: v.symbol(),
            target: v.target.name(),
            host: v.host().name(),
            emulated: v.emulated_on.is_some(),
            wave: v.target.wave_size(),
            threads: v.threads,
            nvidia: v.host().vendor() == Some(Vendor::Nvidia),
            cpu: v.host() == Host::Cpu,
            kv_block: KV_BLOCK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::catalog;

    #[test]
    fn every_pointer_declares_an_extent_over_launch_sizes() {
        for family in catalog() {
            let extents = family.extents().unwrap_or_else(|e| panic!("{e}"));
            let pointers = family.params.iter().filter(|p| p.extent.is_some()).count();
            assert_eq!(extents.len(), pointers);
            for p in &family.params {
                let is_pointer = matches!(p.kind, crate::catalog::ParamKind::Ptr { .. });
                assert_eq!(p.extent.is_some(), is_pointer, "{}: `{}`", family.name, p.name);
            }
        }
    }

    #[test]
    fn tuning_and_grid_axes_are_integer_axes_with_their_defaults() {
        for family in catalog() {
            family.check_axes().unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn tensor_maps_describe_their_buffers() {
        for family in catalog() {
            family.check_tensor_maps().unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn a_format_takes_its_own_tuning_default_and_it_must_be_a_value_of_the_axis() {
        use crate::catalog::Tuning;
        use crate::quant::Quant;
        let mut matvec = catalog().into_iter().find(|f| f.name == "matvec").expect("matvec");
        let rows = matvec.tuning("rows").expect("rows");
        assert_eq!((rows.default_for(Quant::Q8_0), rows.default_for(Quant::Q4K)), (8, rows.default));
        matvec.tuning = &[Tuning { axis: "rows", default: 16, by_quant: &[(Quant::Q6K, 12)] }];
        let err = matvec.check_axes().expect_err("12 is not a value of `rows`");
        assert!(err.contains("default 12"), "{err}");
    }
}

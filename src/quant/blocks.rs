//! ggml's block layouts (`ggml-common.h`), as `#[repr(C)]` structs whose sizes are checked at
//! compile time against the one table of block sizes, `gguf::GgmlType`'s.

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::gguf::GgmlType;

pub const QK: usize = 32;
pub const QK_K: usize = 256;

macro_rules! block {
    ($(#[$m:meta])* $name:ident, $ggml:ident, { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Pod, Zeroable)]
        #[repr(C)]
        pub struct $name { $(pub $field: $ty),* }
        const _: () = assert!(std::mem::size_of::<$name>() == GgmlType::$ggml.block_bytes());
    };
}

block!(BlockQ4_0, Q4_0, { d: f16, qs: [u8; QK / 2] });
block!(BlockQ4_1, Q4_1, { d: f16, m: f16, qs: [u8; QK / 2] });
block!(BlockQ5_0, Q5_0, { d: f16, qh: [u8; 4], qs: [u8; QK / 2] });
block!(BlockQ5_1, Q5_1, { d: f16, m: f16, qh: [u8; 4], qs: [u8; QK / 2] });
block!(BlockQ8_0, Q8_0, { d: f16, qs: [i8; QK] });
block!(
    /// `s` is d · Σqs, which lets Q4_1/Q5_1 fold their offset into one multiply.
    BlockQ8_1, Q8_1, { d: f16, s: f16, qs: [i8; QK] }
);
block!(BlockQ2K, Q2K, { scales: [u8; QK_K / 16], qs: [u8; QK_K / 4], d: f16, dmin: f16 });
block!(BlockQ3K, Q3K, { hmask: [u8; QK_K / 8], qs: [u8; QK_K / 4], scales: [u8; 12], d: f16 });
block!(BlockQ4K, Q4K, { d: f16, dmin: f16, scales: [u8; 12], qs: [u8; QK_K / 2] });
block!(BlockQ5K, Q5K, { d: f16, dmin: f16, scales: [u8; 12], qh: [u8; QK_K / 8], qs: [u8; QK_K / 2] });
block!(BlockQ6K, Q6K, { ql: [u8; QK_K / 2], qh: [u8; QK_K / 4], scales: [i8; QK_K / 16], d: f16 });
block!(
    /// The f32 scale is kept as bytes so that the block has alignment 1 like the others
    /// of its row (activation buffers are plain byte vectors).
    BlockQ8K, Q8K, { d: [u8; 4], qs: [i8; QK_K], bsums: [[u8; 2]; QK_K / 16] }
);
block!(BlockIq4Nl, Iq4Nl, { d: f16, qs: [u8; QK / 2] });
block!(BlockIq4Xs, Iq4Xs, { d: f16, scales_h: [u8; 2], scales_l: [u8; QK_K / 64], qs: [u8; QK_K / 2] });
block!(
    /// `e` is an E8M0 scale (a power of two).
    BlockMxfp4, Mxfp4, { e: u8, qs: [u8; QK / 2] }
);

impl BlockQ8K {
    pub fn scale(&self) -> f32 {
        f32::from_le_bytes(self.d)
    }

    pub fn bsum(&self, i: usize) -> i32 {
        i16::from_le_bytes(self.bsums[i]) as i32
    }
}

/// Non-linear 4-bit codebook of IQ4_NL / IQ4_XS.
pub const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
/// E2M1 values, doubled so they are integers (MXFP4's scale is halved to match).
pub const KVALUES_MXFP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// 0.5 · 2^(e − 127), the halved E8M0 scale.
pub fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits: u32 = if e < 2 { 0x0020_0000 << e } else { ((e as u32) - 1) << 23 };
    f32::from_bits(bits)
}

/// The 6-bit scale and min of sub-block `j` packed in a Q4_K/Q5_K `scales` array.
pub fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// The sixteen signed 6-bit scales of a Q3_K block.
pub fn q3k_scales(packed: &[u8; 12]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (j, o) in out.iter_mut().enumerate() {
        let low = if j < 8 { packed[j] & 0xF } else { packed[j - 8] >> 4 };
        let high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        *o = ((low | (high << 4)) as i8) - 32;
    }
    out
}

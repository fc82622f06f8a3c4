//! Quantized weight formats the GPU kernels read, with ggml's block geometry. The names are
//! ggml's (`GGML_TYPE_Q4_0` → `q4_0`), and each has a device header `templates/quant/<name>.h`
//! defining `block_<name>` and its dequantization.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// A field of a block: where it sits in ggml's block, and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: u32,
    pub bytes: u32,
}

const fn field(name: &'static str, offset: u32, bytes: u32) -> Field {
    Field { name, offset, bytes }
}

/// Blocks a device group holds (see `Quant::device_fields`).
pub const GROUP_BLOCKS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quant {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Mxfp4,
}

impl Quant {
    pub const ALL: [Quant; 11] = [
        Quant::Q4_0,
        Quant::Q4_1,
        Quant::Q5_0,
        Quant::Q5_1,
        Quant::Q8_0,
        Quant::Q2K,
        Quant::Q3K,
        Quant::Q4K,
        Quant::Q5K,
        Quant::Q6K,
        Quant::Mxfp4,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Quant::Q4_0 => "q4_0",
            Quant::Q4_1 => "q4_1",
            Quant::Q5_0 => "q5_0",
            Quant::Q5_1 => "q5_1",
            Quant::Q8_0 => "q8_0",
            Quant::Q2K => "q2_k",
            Quant::Q3K => "q3_k",
            Quant::Q4K => "q4_k",
            Quant::Q5K => "q5_k",
            Quant::Q6K => "q6_k",
            Quant::Mxfp4 => "mxfp4",
        }
    }

    pub fn block_type(self) -> String {
        format!("block_{}", self.name())
    }

    /// Weights per block.
    pub const fn block_elems(self) -> u32 {
        match self {
            Quant::Q2K | Quant::Q3K | Quant::Q4K | Quant::Q5K | Quant::Q6K => 256,
            _ => 32,
        }
    }

    /// Bytes per block (ggml's `ggml_type_size`); the host's block structs are checked against
    /// it at compile time (`rocmforge::backend::gpu::QuantBlock`).
    pub const fn block_bytes(self) -> u32 {
        match self {
            Quant::Q4_0 => 18,
            Quant::Q4_1 => 20,
            Quant::Q5_0 => 22,
            Quant::Q5_1 => 24,
            Quant::Q8_0 => 34,
            Quant::Q2K => 84,
            Quant::Q3K => 110,
            Quant::Q4K => 144,
            Quant::Q5K => 176,
            Quant::Q6K => 210,
            Quant::Mxfp4 => 17,
        }
    }

    /// The fields of a block in the order the GPU stores them, for the formats whose blocks it
    /// stores regrouped; empty for those it stores as ggml does. ggml's 32-weight blocks of 18,
    /// 20, 22 and 34 bytes sit at 2- or 4-byte alignment, so a GPU thread would read a block's
    /// quants as the 16-byte chunks around them and shift them into place. On the GPU a
    /// tensor's blocks, in row-major order, are instead taken `GROUP_BLOCKS` at a time (the last
    /// group may hold fewer, `k`), and a group of k blocks holds k copies of the first field,
    /// then k of the second, and so on: the quants come first and are 16-byte aligned, and the
    /// group's size and place are those of its blocks in ggml's order, so a tensor's size is
    /// unchanged. The templates read these fields through `group_field`
    /// (`templates/quant.hip.j2`), which needs a group's start 16-byte aligned. Q5_1's 24-byte
    /// blocks are 8-byte aligned, and regrouped they spilled registers in the 16-row mat-vec;
    /// eight 17-byte MXFP4 blocks are 136 bytes, not a multiple of 16. Q6_K's 210-byte blocks
    /// are 2-byte aligned: regrouped, its mat-vec reads each block's quants by aligned 16-byte
    /// loads, each once. Q4_K's 144-byte blocks are aligned already; regrouped (quants, then the
    /// 16-byte heads), a wave's loads of each are contiguous. Q3_K's 110-byte blocks are 2-byte
    /// aligned: regrouped (quants, high bits, scales, d), its mat-vec reads a block's quants and
    /// high bits by aligned 16-byte loads, each once; Q2_K's 84-byte blocks (4-byte aligned)
    /// likewise (quants, scales, d and dmin). Q5_K's 176-byte blocks are aligned already and are
    /// read as ggml stores them.
    pub const fn device_fields(self) -> &'static [Field] {
        const Q4_0: &[Field] = &[field("qs", 2, 16), field("d", 0, 2)];
        const Q5_0: &[Field] = &[field("qs", 6, 16), field("qh", 2, 4), field("d", 0, 2)];
        const Q4_1: &[Field] = &[field("qs", 4, 16), field("dm", 0, 4)];
        const Q8_0: &[Field] = &[field("qs", 2, 32), field("d", 0, 2)];
        const Q4K: &[Field] = &[field("qs", 16, 128), field("head", 0, 16)];
        const Q2K: &[Field] = &[field("qs", 16, 64), field("scales", 0, 16), field("dm", 80, 4)];
        const Q3K: &[Field] =
            &[field("qs", 32, 64), field("hmask", 0, 32), field("scales", 96, 12), field("d", 108, 2)];
        const Q6K: &[Field] =
            &[field("ql", 0, 128), field("qh", 128, 64), field("scales", 192, 16), field("d", 208, 2)];
        match self {
            Quant::Q4_0 => Q4_0,
            Quant::Q4_1 => Q4_1,
            Quant::Q5_0 => Q5_0,
            Quant::Q8_0 => Q8_0,
            Quant::Q4K => Q4K,
            Quant::Q6K => Q6K,
            Quant::Q3K => Q3K,
            Quant::Q2K => Q2K,
            Quant::Q5_1 | Quant::Mxfp4 | Quant::Q5K => &[],
        }
    }

    /// A tensor's blocks (ggml's order, a whole number of blocks) as the GPU stores them.
    pub fn to_device_layout(self, blocks: &[u8]) -> Cow<'_, [u8]> {
        if self.device_fields().is_empty() {
            return Cow::Borrowed(blocks);
        }
        let mut out = Vec::new();
        self.to_device_layout_in(blocks, &mut out);
        Cow::Owned(out)
    }

    /// `to_device_layout` in `scratch` (when the format is regrouped; `blocks` themselves when
    /// not), so that a model's upload reuses one buffer: a fresh one per tensor costs its page
    /// faults again.
    pub fn to_device_layout_in<'a>(self, blocks: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
        if self.device_fields().is_empty() {
            return blocks;
        }
        scratch.resize(blocks.len(), 0);
        self.regroup_into(blocks, scratch);
        scratch
    }

    /// Writes `blocks` regrouped into `out` (as long): group by group, each field's bytes of
    /// the group's blocks in turn.
    fn regroup_into(self, blocks: &[u8], out: &mut [u8]) {
        let size = self.block_bytes() as usize;
        let group = GROUP_BLOCKS * size;
        for (src, dst) in blocks.chunks(group).zip(out.chunks_mut(group)) {
            let mut at = 0;
            for f in self.device_fields() {
                let from = f.offset as usize;
                // A copy of a length known at compile time is a move, not a call to memcpy: 6×
                // faster over a tensor.
                at = match f.bytes {
                    2 => copy_field::<2>(src, size, from, dst, at),
                    4 => copy_field::<4>(src, size, from, dst, at),
                    12 => copy_field::<12>(src, size, from, dst, at),
                    16 => copy_field::<16>(src, size, from, dst, at),
                    32 => copy_field::<32>(src, size, from, dst, at),
                    64 => copy_field::<64>(src, size, from, dst, at),
                    128 => copy_field::<128>(src, size, from, dst, at),
                    n => unreachable!("no device field is {n} bytes"),
                };
            }
        }
    }

    /// Bytes a block's fields before `name` take (in `device_fields`' order): in a group of k
    /// blocks, field `name` starts k times this many bytes in.
    pub fn device_field_before(self, name: &str) -> u32 {
        let fields = self.device_fields();
        fields.iter().take_while(|f| f.name != name).map(|f| f.bytes).sum()
    }
}

impl fmt::Display for Quant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Quant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Quant::ALL.into_iter().find(|q| q.name() == lower).ok_or_else(|| {
            let known: Vec<&str> = Quant::ALL.iter().map(|q| q.name()).collect();
            format!("unknown quant format {s:?} (known: {})", known.join(", "))
        })
    }
}

/// Field `[from, from + LEN)` of each block of `src` (blocks of `size` bytes), one after the
/// other into `dst` from `at`; returns where it stopped.
fn copy_field<const LEN: usize>(src: &[u8], size: usize, from: usize, dst: &mut [u8], at: usize) -> usize {
    let mut at = at;
    for block in src.chunks_exact(size) {
        let field: &[u8; LEN] = block[from..from + LEN].try_into().expect("a field lies within its block");
        dst[at..at + LEN].copy_from_slice(field);
        at += LEN;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_fields_cover_each_block_once() {
        for q in Quant::ALL {
            let fields = q.device_fields();
            if fields.is_empty() {
                continue;
            }
            let mut covered = vec![0u32; q.block_bytes() as usize];
            for f in fields {
                for b in &mut covered[f.offset as usize..(f.offset + f.bytes) as usize] {
                    *b += 1;
                }
            }
            assert!(covered.iter().all(|&c| c == 1), "{q}: {covered:?}");
            assert_eq!(fields[0].bytes % 16, 0, "{q}: the quants come first, in 16-byte pieces");
            let group = GROUP_BLOCKS as u32 * q.block_bytes();
            assert_eq!(group % 16, 0, "{q}: a group of {GROUP_BLOCKS} blocks starts 16-byte aligned");
        }
    }

    /// Each block byte lands where the templates' `group_field` reads it, in full groups and a
    /// short last one.
    #[test]
    fn device_layout_puts_fields_where_the_templates_read_them() {
        for q in Quant::ALL.into_iter().filter(|q| !q.device_fields().is_empty()) {
            let size = q.block_bytes() as usize;
            let n = 2 * GROUP_BLOCKS + 3;
            let blocks: Vec<u8> = (0..n * size).map(|i| (i * 7 + i / 251) as u8).collect();
            let dev = q.to_device_layout(&blocks);
            assert_eq!(dev.len(), blocks.len());
            for j in 0..n {
                let g0 = j / GROUP_BLOCKS * GROUP_BLOCKS;
                let k = GROUP_BLOCKS.min(n - g0);
                for f in q.device_fields() {
                    let at = g0 * size + k * q.device_field_before(f.name) as usize + (j - g0) * f.bytes as usize;
                    let src = j * size + f.offset as usize;
                    assert_eq!(
                        dev[at..at + f.bytes as usize],
                        blocks[src..src + f.bytes as usize],
                        "{q} block {j} {}",
                        f.name
                    );
                }
            }
        }
    }
}

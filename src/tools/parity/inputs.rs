//! Random inputs for parity cases: non-zero values (a kernel that ignores an input must not pass
//! by luck) from a seed derived from the case, and valid quantized blocks of every format.

use half::f16;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rocmforge_codegen::Quant;

use rocmforge::backend::{row_of, KV_BLOCK};
use rocmforge::gguf::GgmlType;

/// A generator seeded by `label`, so a case sees the same data on every run.
pub fn rng(label: &str) -> SmallRng {
    let seed = label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    SmallRng::seed_from_u64(seed)
}

/// `n` values in ±[0.01, 1].
pub fn nonzero(rng: &mut SmallRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let v: f32 = rng.gen_range(0.01..1.0);
            if rng.gen_bool(0.5) {
                v
            } else {
                -v
            }
        })
        .collect()
}

pub fn f32_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn f16_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect()
}

pub fn i32_bytes(x: &[i32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn to_f16(x: &[f32]) -> Vec<f16> {
    x.iter().map(|&v| f16::from_f32(v)).collect()
}

/// Blocks of type `W` from their bytes (which need not be aligned for `W`).
pub fn typed_blocks<W: bytemuck::Pod>(bytes: &[u8]) -> Vec<W> {
    bytes.chunks_exact(size_of::<W>()).map(bytemuck::pod_read_unaligned).collect()
}

/// Rounds through f16, as a kernel storing half does.
pub fn round_f16(x: &[f32]) -> Vec<f32> {
    x.iter().map(|v| f16::from_f32(*v).to_f32()).collect()
}

pub fn ggml_type(q: Quant) -> GgmlType {
    match q {
        Quant::Q4_0 => GgmlType::Q4_0,
        Quant::Q4_1 => GgmlType::Q4_1,
        Quant::Q5_0 => GgmlType::Q5_0,
        Quant::Q5_1 => GgmlType::Q5_1,
        Quant::Q8_0 => GgmlType::Q8_0,
        Quant::Q2K => GgmlType::Q2K,
        Quant::Q3K => GgmlType::Q3K,
        Quant::Q4K => GgmlType::Q4K,
        Quant::Q5K => GgmlType::Q5K,
        Quant::Q6K => GgmlType::Q6K,
        Quant::Mxfp4 => GgmlType::Mxfp4,
    }
}

/// Byte offsets of each block's f16 scale fields (ggml's block structs).
fn f16_fields(q: Quant) -> &'static [usize] {
    match q {
        Quant::Q4_0 | Quant::Q5_0 | Quant::Q8_0 => &[0],
        Quant::Q4_1 | Quant::Q5_1 | Quant::Q4K | Quant::Q5K => &[0, 2],
        Quant::Q2K => &[80, 82],
        Quant::Q3K => &[108],
        Quant::Q6K => &[208],
        Quant::Mxfp4 => &[],
    }
}

/// Multiplies every weight of `blocks` by about `factor`: the f16 scales (and minimums) exactly,
/// MXFP4's power-of-two exponent by the nearest power of two.
pub fn scale_quant_blocks(q: Quant, blocks: &mut [u8], factor: f32) {
    for block in blocks.chunks_exact_mut(q.block_bytes() as usize) {
        for &at in f16_fields(q) {
            let v = f16::from_le_bytes([block[at], block[at + 1]]).to_f32() * factor;
            block[at..at + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes());
        }
        if q == Quant::Mxfp4 {
            block[0] = (i32::from(block[0]) + factor.log2().round() as i32).clamp(1, 254) as u8;
        }
    }
}

/// Random blocks for `n` weights: random bits everywhere (every bit pattern of the quant and
/// sub-scale fields is valid) except the f16 scales, kept in ±[0.001, 0.05] so values stay finite,
/// and MXFP4's exponent, kept near 2^0.
pub fn quant_blocks(rng: &mut SmallRng, q: Quant, n: usize) -> Vec<u8> {
    let (elems, bytes) = (q.block_elems() as usize, q.block_bytes() as usize);
    let mut out: Vec<u8> = (0..n / elems * bytes).map(|_| rng.gen()).collect();
    for block in out.chunks_exact_mut(bytes) {
        for &at in f16_fields(q) {
            let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
            let v = f16::from_f32(sign * rng.gen_range(0.001f32..0.05));
            block[at..at + 2].copy_from_slice(&v.to_le_bytes());
        }
        if q == Quant::Mxfp4 {
            block[0] = rng.gen_range(118..=130);
        }
    }
    out
}

/// A block table for `n_pos` positions of a paged KV cache whose pool holds `n_blocks` blocks
/// (at least those the positions need): blocks in shuffled order, as a pool hands them out
/// once sequences have come and gone.
pub fn block_table(rng: &mut SmallRng, n_pos: usize, n_blocks: usize) -> Vec<u32> {
    use rand::seq::SliceRandom;
    let mut blocks: Vec<u32> = (0..n_blocks as u32).collect();
    blocks.shuffle(rng);
    blocks.truncate(n_pos.div_ceil(KV_BLOCK));
    blocks
}

/// The pool of `n_blocks` blocks holding the cache rows `logical` (`width` values each) where
/// `table` puts them; the rows no position maps to hold `fill`.
pub fn paged(logical: &[f32], width: usize, table: &[u32], n_blocks: usize, fill: f32) -> Vec<f32> {
    let mut pool = vec![fill; n_blocks * KV_BLOCK * width];
    scatter(&mut pool, logical, width, table);
    pool
}

/// Writes the cache rows `logical` into `pool` where `table` puts them.
pub fn scatter(pool: &mut [f32], logical: &[f32], width: usize, table: &[u32]) {
    for (p, row) in logical.chunks_exact(width).enumerate() {
        let r = row_of(table, p);
        pool[r * width..(r + 1) * width].copy_from_slice(row);
    }
}

pub fn table_bytes(table: &[u32]) -> Vec<u8> {
    table.iter().flat_map(|v| (*v as i32).to_le_bytes()).collect()
}

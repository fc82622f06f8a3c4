//! Quantized tensor formats on the CPU: dequantization, quantization of activations, and the
//! dot products that matrix-vector products are made of. These are the CPU reference for the
//! GPU kernels and follow ggml's CPU backend (`ggml-quants.c`, `ggml-cpu/quants.c`).
//!
//! Each format lives in one file (`legacy`, `kquants`, `nonlinear`, `float`) as scalar code;
//! `x86` holds AVX2 versions of the hot dot products, chosen at run time.

pub mod blocks;
mod float;
mod kquants;
mod legacy;
mod nonlinear;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::OnceLock;

use bytemuck::Pod;
use half::{bf16, f16};

pub use crate::gguf::GgmlType;

#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error("{op} is not implemented for {ty} tensors")]
    Unsupported { ty: GgmlType, op: &'static str },
    #[error("{ty} {what}: expected a multiple of {expected}, got {got}")]
    BadLength { ty: GgmlType, what: &'static str, expected: usize, got: usize },
}

/// A dot product of `n` elements: a weight row (raw bytes of its type) with an activation row
/// already quantized to that type's `vec_dot_type`.
pub type VecDotFn = fn(n: usize, w: &[u8], x: &[u8]) -> f32;

/// `out[r]` = weight row r of `w` (consecutive rows, `out.len()` of them) · `x`; false where
/// the lengths do not fit together.
pub type RowsDotFn = fn(w: &[u8], x: &[u8], out: &mut [f32]) -> bool;

/// Weight rows and activation rows of one tile of a batch matmul.
pub const TILE_ROWS: usize = 2;
pub const TILE_TOKENS: usize = 4;
/// `tile[r][t]` = weight row r · activation row t.
pub type Tile = [[f32; TILE_TOKENS]; TILE_ROWS];

/// A tile's dot products; `None` where the lengths do not fit together.
pub type VecDotTileFn = fn(w: [&[u8]; TILE_ROWS], x: [&[u8]; TILE_TOKENS]) -> Option<Tile>;

/// A tile kernel whose activation and weight rows are rewritten into layouts of its own, the
/// activations once per batch and token, each weight row once per batch (not once per tile):
/// `prepare` turns a row quantized to the dot product's type into `row_bytes(n)` bytes,
/// `prepare_w` a weight row into `w_row_bytes(n)` bytes (both false where the lengths do not
/// fit), and `tile` reads such rows, giving the single-row dot product's results bit for bit.
#[derive(Clone, Copy)]
pub struct PreparedTile {
    pub row_bytes: fn(n: usize) -> usize,
    pub prepare: PrepareFn,
    pub w_row_bytes: fn(n: usize) -> usize,
    pub prepare_w: PrepareFn,
    pub tile: VecDotTileFn,
}

/// Weight rows per panel of a `PanelGemm`.
pub const PANEL_ROWS: usize = 16;
/// One activation row's results against a panel's rows.
pub type PanelOut = [f32; PANEL_ROWS];

/// A batch GEMM over panels of `PANEL_ROWS` weight rows rebuilt (interleaved) once per batch:
/// `prepare_x` turns an activation row quantized to the dot product's type into
/// `x_row_bytes(n)` bytes, `prepare_panel` up to `PANEL_ROWS` stored weight rows into
/// `panel_bytes(n)` bytes (missing rows are zero), and `run` gives every activation row's
/// results against a panel's rows (all false where the lengths do not fit). Its sums are its
/// own, not the single-row dot product's, but a token's results do not depend on the batch,
/// and `rows` gives the same for one token straight from the stored rows.
#[derive(Clone, Copy)]
pub struct PanelGemm {
    pub x_row_bytes: fn(n: usize) -> usize,
    pub prepare_x: PrepareFn,
    pub panel_bytes: fn(n: usize) -> usize,
    pub prepare_panel: fn(rows: &[&[u8]], out: &mut [u8]) -> bool,
    pub run: fn(panel: &[u8], x: &[u8], out: &mut [PanelOut]) -> bool,
    /// One activation row (prepared by `prepare_x`) against consecutive weight rows as stored,
    /// without building panels: `run`'s result for that row, bit for bit (decode), where the
    /// format has it.
    pub rows: Option<PanelRowsFn>,
}

/// `out[r]` = weight row r of `w` (consecutive rows as stored, `out.len()` of them) · `x`, an
/// activation row prepared for a panel GEMM; false where the lengths do not fit.
pub type PanelRowsFn = fn(w: &[u8], x: &[u8], out: &mut [f32]) -> bool;

/// Rewrites a row into a tile kernel's layout (`out` holds exactly the rewritten row); false
/// where the lengths do not fit.
pub type PrepareFn = fn(row: &[u8], out: &mut [u8]) -> bool;

/// The activation format a weight type's dot product consumes (ggml's `vec_dot_type`).
pub fn vec_dot_type(ty: GgmlType) -> Result<GgmlType, QuantError> {
    use GgmlType::*;
    Ok(match ty {
        F32 => F32,
        F16 => F16,
        Bf16 => Bf16,
        Q4_0 | Q5_0 | Q8_0 | Iq4Nl | Mxfp4 => Q8_0,
        Q4_1 | Q5_1 => Q8_1,
        Q2K | Q3K | Q4K | Q5K | Q6K | Q8K | Iq4Xs => Q8K,
        _ => return Err(QuantError::Unsupported { ty, op: "dot product" }),
    })
}

fn blocks<B: Pod>(ty: GgmlType, bytes: &[u8]) -> Result<&[B], QuantError> {
    bytemuck::try_cast_slice(bytes).map_err(|_| QuantError::BadLength {
        ty,
        what: "data bytes",
        expected: std::mem::size_of::<B>(),
        got: bytes.len(),
    })
}

fn blocks_mut<B: Pod>(ty: GgmlType, bytes: &mut [u8]) -> Result<&mut [B], QuantError> {
    let got = bytes.len();
    bytemuck::try_cast_slice_mut(bytes).map_err(|_| QuantError::BadLength {
        ty,
        what: "output bytes",
        expected: std::mem::size_of::<B>(),
        got,
    })
}

/// Checks that `n_elements` whole blocks of `ty` take exactly `n_bytes` bytes.
fn check(ty: GgmlType, n_elements: usize, n_bytes: usize) -> Result<(), QuantError> {
    match ty.bytes_for(n_elements as u64) {
        Some(b) if b as usize == n_bytes => Ok(()),
        Some(_) => Err(QuantError::BadLength {
            ty,
            what: "row bytes",
            expected: ty.bytes_for(n_elements as u64).unwrap_or(0) as usize,
            got: n_bytes,
        }),
        None => Err(QuantError::BadLength { ty, what: "row length", expected: ty.block_len(), got: n_elements }),
    }
}

pub fn dequantize_row(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    use GgmlType::*;
    check(ty, out.len(), bytes.len())?;
    match ty {
        F32 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        F16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        Bf16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = bf16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        Q4_0 => legacy::dequant_q4_0(blocks(ty, bytes)?, out),
        Q4_1 => legacy::dequant_q4_1(blocks(ty, bytes)?, out),
        Q5_0 => legacy::dequant_q5_0(blocks(ty, bytes)?, out),
        Q5_1 => legacy::dequant_q5_1(blocks(ty, bytes)?, out),
        Q8_0 => legacy::dequant_q8_0(blocks(ty, bytes)?, out),
        Q8_1 => legacy::dequant_q8_1(blocks(ty, bytes)?, out),
        Q2K => kquants::dequant(blocks(ty, bytes)?, kquants::decode_q2k, out),
        Q3K => kquants::dequant(blocks(ty, bytes)?, kquants::decode_q3k, out),
        Q4K => kquants::dequant(blocks(ty, bytes)?, kquants::decode_q4k, out),
        Q5K => kquants::dequant(blocks(ty, bytes)?, kquants::decode_q5k, out),
        Q6K => kquants::dequant(blocks(ty, bytes)?, kquants::decode_q6k, out),
        Q8K => kquants::dequant_q8k(blocks(ty, bytes)?, out),
        Iq4Nl => nonlinear::dequant_iq4nl(blocks(ty, bytes)?, out),
        Iq4Xs => nonlinear::dequant_iq4xs(blocks(ty, bytes)?, out),
        Mxfp4 => nonlinear::dequant_mxfp4(blocks(ty, bytes)?, out),
        _ => return Err(QuantError::Unsupported { ty, op: "dequantization" }),
    }
    Ok(())
}

/// Quantizes one row. The activation formats (Q8_0, Q8_1, Q8_K, F16, BF16, F32) match ggml's
/// x86 CPU path bit for bit; Q4_0/Q4_1/Q5_0/Q5_1 use ggml's reference quantizers.
pub fn quantize_row(ty: GgmlType, x: &[f32], out: &mut [u8]) -> Result<(), QuantError> {
    use GgmlType::*;
    check(ty, x.len(), out.len())?;
    match ty {
        F32 => {
            for (o, v) in out.chunks_exact_mut(4).zip(x) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        F16 => {
            for (o, v) in out.chunks_exact_mut(2).zip(x) {
                o.copy_from_slice(&f16::from_f32(*v).to_le_bytes());
            }
        }
        Bf16 => {
            for (o, v) in out.chunks_exact_mut(2).zip(x) {
                o.copy_from_slice(&bf16::from_f32(*v).to_le_bytes());
            }
        }
        Q8_0 => legacy::quantize_q8_0(x, blocks_mut(ty, out)?),
        Q8_1 => legacy::quantize_q8_1(x, blocks_mut(ty, out)?),
        Q8K => kquants::quantize_q8k(x, blocks_mut(ty, out)?),
        Q4_0 => legacy::quantize_q4_0(x, blocks_mut(ty, out)?),
        Q4_1 => legacy::quantize_q4_1(x, blocks_mut(ty, out)?),
        Q5_0 => legacy::quantize_q5_0(x, blocks_mut(ty, out)?),
        Q5_1 => legacy::quantize_q5_1(x, blocks_mut(ty, out)?),
        _ => return Err(QuantError::Unsupported { ty, op: "quantization" }),
    }
    Ok(())
}

/// Casts both rows to their block types; the lengths were checked by the caller's shapes, and
/// a mismatch here yields NaN rather than a panic in the middle of a matmul.
macro_rules! typed_dot {
    ($w:ty, $x:ty, $f:expr) => {
        |_n: usize, w: &[u8], x: &[u8]| -> f32 {
            match (bytemuck::try_cast_slice::<u8, $w>(w), bytemuck::try_cast_slice::<u8, $x>(x)) {
                (Ok(w), Ok(x)) if w.len() == x.len() => $f(w, x),
                _ => f32::NAN,
            }
        }
    };
}

use blocks::*;

fn reference_dot(ty: GgmlType) -> Result<VecDotFn, QuantError> {
    use GgmlType::*;
    Ok(match ty {
        F32 => |_, w, x| match (bytemuck::try_cast_slice::<u8, f32>(w), bytemuck::try_cast_slice::<u8, f32>(x)) {
            (Ok(w), Ok(x)) => float::dot_f32(w, x),
            _ => dot_f32_unaligned(w, x),
        },
        F16 => typed_dot!(f16, f16, float::dot_f16),
        Bf16 => typed_dot!(bf16, bf16, float::dot_bf16),
        Q4_0 => typed_dot!(BlockQ4_0, BlockQ8_0, legacy::dot_q4_0),
        Q4_1 => typed_dot!(BlockQ4_1, BlockQ8_1, legacy::dot_q4_1),
        Q5_0 => typed_dot!(BlockQ5_0, BlockQ8_0, legacy::dot_q5_0),
        Q5_1 => typed_dot!(BlockQ5_1, BlockQ8_1, legacy::dot_q5_1),
        Q8_0 => typed_dot!(BlockQ8_0, BlockQ8_0, legacy::dot_q8_0),
        Q2K => typed_dot!(BlockQ2K, BlockQ8K, |w, x| kquants::dot(w, x, kquants::decode_q2k)),
        Q3K => typed_dot!(BlockQ3K, BlockQ8K, |w, x| kquants::dot(w, x, kquants::decode_q3k)),
        Q4K => typed_dot!(BlockQ4K, BlockQ8K, |w, x| kquants::dot(w, x, kquants::decode_q4k)),
        Q5K => typed_dot!(BlockQ5K, BlockQ8K, |w, x| kquants::dot(w, x, kquants::decode_q5k)),
        Q6K => typed_dot!(BlockQ6K, BlockQ8K, |w, x| kquants::dot(w, x, kquants::decode_q6k)),
        Q8K => typed_dot!(BlockQ8K, BlockQ8K, kquants::dot_q8k),
        Iq4Nl => typed_dot!(BlockIq4Nl, BlockQ8_0, nonlinear::dot_iq4nl),
        Iq4Xs => typed_dot!(BlockIq4Xs, BlockQ8K, nonlinear::dot_iq4xs),
        Mxfp4 => typed_dot!(BlockMxfp4, BlockQ8_0, nonlinear::dot_mxfp4),
        _ => return Err(QuantError::Unsupported { ty, op: "dot product" }),
    })
}

/// f32 rows that are not 4-byte aligned (a GGUF with an odd alignment) are read bytewise.
fn dot_f32_unaligned(w: &[u8], x: &[u8]) -> f32 {
    let f = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    w.chunks_exact(4).zip(x.chunks_exact(4)).map(|(a, b)| f(a) * f(b)).sum()
}

/// The scalar reference dot product of a weight type.
pub fn vec_dot_ref_fn(ty: GgmlType) -> Result<VecDotFn, QuantError> {
    reference_dot(ty)
}

/// The fastest dot product this CPU supports for a weight type (detected once).
pub fn vec_dot_fn(ty: GgmlType) -> Result<VecDotFn, QuantError> {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = x86::fast_dot(ty) {
        return Ok(f);
    }
    reference_dot(ty)
}

/// `vec_dot_fn(ty)` over many consecutive weight rows in one call, bit for bit the same per
/// row; `None` where there is no such kernel (then call the single-row one per row).
pub fn rows_dot_fn(ty: GgmlType) -> Option<RowsDotFn> {
    #[cfg(target_arch = "x86_64")]
    return x86::fast_rows(ty);
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Which dot product each activation row of a matmul gets: rows `0..bulk_rows` use `bulk`,
/// the rest `tail`.
#[derive(Clone, Copy)]
pub struct RowPlan {
    pub bulk_rows: usize,
    pub bulk: VecDotFn,
    /// `bulk` over a tile, where there is such a kernel.
    pub bulk_tile: Option<VecDotTileFn>,
    pub tail: VecDotFn,
}

/// Batches of at least this many rows take ggml's tiled K-quant kernel.
pub const TILED_MIN_ROWS: usize = 8;

/// The dot products llama.cpp's CPU backend computes for weight type `ty` in a matmul with
/// `n_rows` activation rows. Only the f32 rounding differs between them, but greedy parity
/// depends on it:
/// - Q4_K is repacked; rows in groups of four go through its GEMM (one FMA per 64 elements),
///   the remaining rows through its GEMV (one FMA per block);
/// - the other K-quants go through ggml's tiled kernel from `TILED_MIN_ROWS` rows on;
/// - everything else uses the single-row dot product for every row.
pub fn row_plan(ty: GgmlType, n_rows: usize) -> Result<RowPlan, QuantError> {
    use GgmlType::*;
    let single = vec_dot_fn(ty)?;
    let plan = |bulk_rows, bulk, bulk_tile| Ok(RowPlan { bulk_rows, bulk, bulk_tile, tail: single });
    match ty {
        Q4K if n_rows > 3 => plan(n_rows - n_rows % 4, batch_dot(ty)?, batch_tile(ty)),
        Q2K | Q3K | Q5K | Q6K if n_rows >= TILED_MIN_ROWS => plan(n_rows, batch_dot(ty)?, batch_tile(ty)),
        _ => plan(0, single, None),
    }
}

fn batch_tile(ty: GgmlType) -> Option<VecDotTileFn> {
    #[cfg(target_arch = "x86_64")]
    return x86::fast_batch_tile(ty);
    #[cfg(not(target_arch = "x86_64"))]
    None
}

fn batch_dot(ty: GgmlType) -> Result<VecDotFn, QuantError> {
    use GgmlType::*;
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = x86::fast_batch_dot(ty) {
        return Ok(f);
    }
    Ok(match ty {
        Q4K => typed_dot!(BlockQ4K, BlockQ8K, |w, x| kquants::dot_gemm(w, x, kquants::decode_q4k)),
        Q2K => typed_dot!(BlockQ2K, BlockQ8K, |w, x| kquants::dot_tiled(w, x, kquants::decode_q2k)),
        Q3K => typed_dot!(BlockQ3K, BlockQ8K, |w, x| kquants::dot_tiled(w, x, kquants::decode_q3k)),
        Q5K => typed_dot!(BlockQ5K, BlockQ8K, |w, x| kquants::dot_tiled(w, x, kquants::decode_q5k)),
        Q6K => typed_dot!(BlockQ6K, BlockQ8K, |w, x| kquants::dot_tiled(w, x, kquants::decode_q6k)),
        _ => return vec_dot_fn(ty),
    })
}

/// Rewrites a Q4_0 or Q5_0 row as Q8_0 blocks with the same scales and integer values, so a
/// batched matmul unpacks each weight block once rather than once per activation row. Q8_0's
/// dot product on the result is bit for bit the original format's (the same integers meet the
/// same scales in the same order). Returns `false` for other types.
pub fn widen_to_q8_0(ty: GgmlType, row: &[u8], out: &mut Vec<u8>) -> Result<bool, QuantError> {
    let widen = |values: &dyn Fn(usize) -> (f16, [i8; 32]), n: usize, out: &mut Vec<u8>| {
        out.clear();
        for i in 0..n {
            let (d, qs) = values(i);
            out.extend_from_slice(bytemuck::bytes_of(&BlockQ8_0 { d, qs }));
        }
    };
    match ty {
        GgmlType::Q4_0 => {
            let b: &[BlockQ4_0] = blocks(ty, row)?;
            widen(&|i| (b[i].d, legacy::q4_0_values(&b[i])), b.len(), out);
        }
        GgmlType::Q5_0 => {
            let b: &[BlockQ5_0] = blocks(ty, row)?;
            widen(&|i| (b[i].d, legacy::q5_0_values(&b[i])), b.len(), out);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// `vec_dot_fn(ty)` over a tile of weight rows and activation rows at once, bit for bit the
/// same per pair; `None` where there is no such kernel.
pub fn vec_dot_tile_fn(ty: GgmlType) -> Option<VecDotTileFn> {
    #[cfg(target_arch = "x86_64")]
    return x86::fast_tile(ty);
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// `vec_dot_fn(ty)` over a tile whose activation rows are prepared once per batch, where this
/// CPU has such a kernel.
pub fn prepared_tile_fn(ty: GgmlType) -> Option<PreparedTile> {
    #[cfg(target_arch = "x86_64")]
    return x86::fast_prepared_tile(ty);
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// The panel GEMM for weight type `ty`, where this CPU has one (AVX-512 VNNI).
pub fn panel_gemm_fn(ty: GgmlType) -> Option<PanelGemm> {
    #[cfg(target_arch = "x86_64")]
    return x86::panel_gemm(ty);
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Which SIMD level the fast paths use on this CPU ("avx2" or "scalar").
pub fn simd_level() -> &'static str {
    static LEVEL: OnceLock<&'static str> = OnceLock::new();
    LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if x86::has_avx2() {
            return "avx2";
        }
        "scalar"
    })
}

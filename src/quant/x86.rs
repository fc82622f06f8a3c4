//! AVX2 dot products for the formats real models are made of (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
//! Q4_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4),
//! in the style of ggml's `arch/x86/quants.c`: unsigned×signed byte products with `maddubs`,
//! widened with `madd`, scaled in f32 per block. Each has a scalar twin in the format's file,
//! and the tests check the two agree. The K-quant kernels are in `kquants`, the AVX-512 VNNI
//! batch tiles in `vnni`, the AVX-512 VNNI panel GEMM in `panel`.
//!
//! Safety, for every `unsafe` below: the kernels are `#[target_feature(enable = "avx2,fma,f16c")]`
//! functions, and the only way to reach them is through `fast_dot`, `fast_rows`, `fast_tile`,
//! `fast_batch_dot` and `fast_batch_tile`, which hand them out only after `has_avx2` has
//! detected all three features.
//! Inside, every unaligned load reads a whole fixed-size array field of a block (`qs`, `ql`,
//! `qh`, `scales`, `bsums`) at an offset that the loop bounds keep within that field, and the
//! block slices come from `bytemuck` casts checked for equal lengths.

use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::blocks::*;
use super::nonlinear::iq4xs_scale;
use super::{GgmlType, RowsDotFn, Tile, VecDotFn, VecDotTileFn, TILE_ROWS, TILE_TOKENS};

mod panel;
mod vnni;
pub use panel::panel_gemm;
pub use vnni::fast_prepared_tile;

pub fn has_avx2() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
    })
}

/// The AVX2 dot product for `ty`, if this CPU has AVX2 and the format has one.
pub fn fast_dot(ty: GgmlType) -> Option<VecDotFn> {
    if !has_avx2() {
        return None;
    }
    // SAFETY (each call below): AVX2, FMA and F16C were detected just above.
    Some(match ty {
        GgmlType::Q8_0 => |_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_q8_0(w, x) }),
        GgmlType::Q4_0 => |_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_q4_0(w, x) }),
        GgmlType::Q5_0 => |_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_q5_0(w, x) }),
        GgmlType::Q4_1 => |_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_q4_1(w, x) }),
        GgmlType::Q5_1 => |_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_q5_1(w, x) }),
        GgmlType::Q4K => |_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_q4k(w, x) }),
        GgmlType::Q6K => |_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_q6k(w, x) }),
        GgmlType::Iq4Nl => |_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_iq4nl(w, x) }),
        GgmlType::Iq4Xs => |_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_iq4xs(w, x) }),
        GgmlType::Mxfp4 => |_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_mxfp4(w, x) }),
        _ => return None,
    })
}

/// The AVX2 dot product for `ty` over many rows in one call (`fold_rows`), bit for bit
/// `fast_dot` per row, if this CPU has AVX2 and the format has one (Q4_1's with AVX-512 VNNI
/// where the CPU has it, `vnni::fast_rows_vnni`).
pub fn fast_rows(ty: GgmlType) -> Option<RowsDotFn> {
    if !has_avx2() {
        return None;
    }
    if let Some(rows) = vnni::fast_rows_vnni(ty) {
        return Some(rows);
    }
    // SAFETY (each call below): AVX2, FMA and F16C were detected just above; `cast_rows`
    // checked that `w` holds `out.len()` rows of `x.len()` blocks.
    Some(match ty {
        GgmlType::Q8_0 => |w, x, out| cast_rows(w, x, out).map(|(w, x)| unsafe { rows_q8_0(w, x, out) }).is_some(),
        GgmlType::Q4_0 => |w, x, out| cast_rows(w, x, out).map(|(w, x)| unsafe { rows_q4_0(w, x, out) }).is_some(),
        GgmlType::Q5_0 => |w, x, out| cast_rows(w, x, out).map(|(w, x)| unsafe { rows_q5_0(w, x, out) }).is_some(),
        GgmlType::Q4_1 => |w, x, out| cast_rows(w, x, out).map(|(w, x)| unsafe { rows_q4_1(w, x, out) }).is_some(),
        GgmlType::Q5_1 => |w, x, out| cast_rows(w, x, out).map(|(w, x)| unsafe { rows_q5_1(w, x, out) }).is_some(),
        GgmlType::Q4K => |w, x, out| cast_rows(w, x, out).map(|(w, x)| unsafe { rows_q4k(w, x, out) }).is_some(),
        GgmlType::Q6K => |w, x, out| cast_rows(w, x, out).map(|(w, x)| unsafe { rows_q6k(w, x, out) }).is_some(),
        GgmlType::Iq4Nl => |w, x, out| cast_rows(w, x, out).map(|(w, x)| unsafe { rows_iq4nl(w, x, out) }).is_some(),
        GgmlType::Iq4Xs => |w, x, out| cast_rows(w, x, out).map(|(w, x)| unsafe { rows_iq4xs(w, x, out) }).is_some(),
        GgmlType::Mxfp4 => |w, x, out| cast_rows(w, x, out).map(|(w, x)| unsafe { rows_mxfp4(w, x, out) }).is_some(),
        _ => return None,
    })
}

/// The AVX2 dot product for `ty` of a tile of weight rows against activation rows, bit for bit
/// `fast_dot` per pair, if this CPU has AVX2 and the format has one.
pub fn fast_tile(ty: GgmlType) -> Option<VecDotTileFn> {
    if !has_avx2() {
        return None;
    }
    // SAFETY (each call below): AVX2, FMA and F16C were detected just above; `cast_tile`
    // checked that all the rows have the same number of blocks.
    Some(match ty {
        GgmlType::Q8_0 => |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q8_0(w, x) }),
        GgmlType::Q4_0 => |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q4_0(w, x) }),
        GgmlType::Q5_0 => |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q5_0(w, x) }),
        GgmlType::Q4_1 => |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q4_1(w, x) }),
        GgmlType::Q5_1 => |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q5_1(w, x) }),
        GgmlType::Q4K => |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q4k(w, x) }),
        GgmlType::Q6K => |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q6k(w, x) }),
        GgmlType::Iq4Nl => |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_iq4nl(w, x) }),
        GgmlType::Iq4Xs => |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_iq4xs(w, x) }),
        GgmlType::Mxfp4 => |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_mxfp4(w, x) }),
        _ => return None,
    })
}

/// `fast_batch_dot(ty)` over a tile, bit for bit the same per pair.
pub fn fast_batch_tile(ty: GgmlType) -> Option<VecDotTileFn> {
    if !has_avx2() {
        return None;
    }
    // SAFETY (each call below): AVX2, FMA and F16C were detected just above; `cast_tile`
    // checked that all the rows have the same number of blocks.
    match ty {
        GgmlType::Q6K => Some(|w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q6k_tiled(w, x) })),
        GgmlType::Q4K => Some(|w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q4k_gemm(w, x) })),
        _ => None,
    }
}

/// The AVX2 batch dot product for `ty` (ggml's tiled or repacked GEMM kernels), where it
/// rounds differently from `fast_dot`.
pub fn fast_batch_dot(ty: GgmlType) -> Option<VecDotFn> {
    if !has_avx2() {
        return None;
    }
    // SAFETY (each call below): AVX2, FMA and F16C were detected just above.
    match ty {
        GgmlType::Q6K => Some(|_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_q6k_tiled(w, x) })),
        GgmlType::Q4K => Some(|_, w, x| cast2(w, x).map_or(f32::NAN, |(w, x)| unsafe { dot_q4k_gemm(w, x) })),
        _ => None,
    }
}

/// `w` as `rows` rows of as many blocks as `x` has, for `rows == out.len()`.
fn cast_rows<'a, W: bytemuck::Pod, X: bytemuck::Pod>(
    w: &'a [u8],
    x: &'a [u8],
    out: &[f32],
) -> Option<(&'a [W], &'a [X])> {
    let (w, x): (&[W], &[X]) = (bytemuck::try_cast_slice(w).ok()?, bytemuck::try_cast_slice(x).ok()?);
    (!x.is_empty() && w.len() == out.len() * x.len()).then_some((w, x))
}

/// A tile's weight rows and activation rows as blocks.
type TileBlocks<'a, W, X> = ([&'a [W]; TILE_ROWS], [&'a [X]; TILE_TOKENS]);

fn cast_tile<'a, W: bytemuck::Pod, X: bytemuck::Pod>(
    w: [&'a [u8]; TILE_ROWS],
    x: [&'a [u8]; TILE_TOKENS],
) -> Option<TileBlocks<'a, W, X>> {
    let n = bytemuck::try_cast_slice::<u8, W>(w[0]).ok()?.len();
    let (mut ws, mut xs): ([&[W]; TILE_ROWS], [&[X]; TILE_TOKENS]) = ([&[]; TILE_ROWS], [&[]; TILE_TOKENS]);
    for (dst, src) in ws.iter_mut().zip(w) {
        *dst = bytemuck::try_cast_slice(src).ok().filter(|s: &&[W]| s.len() == n)?;
    }
    for (dst, src) in xs.iter_mut().zip(x) {
        *dst = bytemuck::try_cast_slice(src).ok().filter(|s: &&[X]| s.len() == n)?;
    }
    Some((ws, xs))
}

fn cast2<'a, W: bytemuck::Pod, X: bytemuck::Pod>(w: &'a [u8], x: &'a [u8]) -> Option<(&'a [W], &'a [X])> {
    let (w, x) = (bytemuck::try_cast_slice(w).ok()?, bytemuck::try_cast_slice(x).ok()?);
    (<[W]>::len(w) == <[X]>::len(x)).then_some((w, x))
}

/// f16 → f32 in one instruction (`half`'s conversion is an out-of-line call, too slow for a
/// per-block scale in the hot loops).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fp16(h: half::f16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h.to_bits() as i32)))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum_f32(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

/// Eight i32 partial sums of a·b for 32 signed bytes each.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_i8_pairs(a: __m256i, b: __m256i) -> __m256i {
    dot_i8_pairs_by(a, b, 1)
}

/// `dot_i8_pairs` with each pair's sum times `scale` (exact: |a·b| ≤ 127², a pair ≤ 2·127²).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_i8_pairs_by(a: __m256i, b: __m256i, scale: i16) -> __m256i {
    // maddubs needs one unsigned operand: |a| · (b with a's sign).
    let ax = _mm256_sign_epi8(a, a);
    let sy = _mm256_sign_epi8(b, a);
    _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(scale))
}

/// `table[i]` for each byte i (0..=15) of `idx`: the values of the 4-bit codebook formats.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn codebook(idx: __m256i, table: &[i8; 16]) -> __m256i {
    let table = _mm_loadu_si128(table.as_ptr() as *const __m128i);
    _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(table), idx)
}

/// Bytes 0..15 are the low nibbles of `qs`, bytes 16..31 the high ones.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles(qs: &[u8; 16]) -> __m256i {
    let t = _mm_loadu_si128(qs.as_ptr() as *const __m128i);
    let both = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// Byte i is 0xFF where bit i of `bits` is set.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bytes_from_bits(bits: u32) -> __m256i {
    let shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), shuf);
    let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
}

/// A Q5_0/Q5_1 block's 5-bit values, unsigned: the nibbles and, from `qh`, the fifth bits.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn five_bits(qs: &[u8; 16], qh: [u8; 4]) -> __m256i {
    let fifth = _mm256_and_si256(bytes_from_bits(u32::from_le_bytes(qh)), _mm256_set1_epi8(0x10));
    _mm256_or_si256(nibbles(qs), fifth)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load32(p: &[i8; 32]) -> __m256i {
    _mm256_loadu_si256(p.as_ptr() as *const __m256i)
}

/// One block of Σ blocks d_w·d_x·Σ(w·x), the formats without an offset (Q4_0, Q5_0, Q8_0),
/// whose quants `q` are signed; `dx` is the activation block's scale (`ActScale`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scaled_step(acc: __m256, x: &BlockQ8_0, d: f32, dx: f32, q: __m256i) -> __m256 {
    let s = _mm256_cvtepi32_ps(dot_i8_pairs(q, load32(&x.qs)));
    _mm256_fmadd_ps(_mm256_set1_ps(d * dx), s, acc)
}

/// A format's dot product as a fold over its blocks (the accumulator it starts from, one step
/// per block, the final reduction), so that one definition gives both the one-row kernel and
/// the many-row one (`fold_rows`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fold_row<W, X: ActScale, A: Copy>(
    w: &[W],
    x: &[X],
    zero: A,
    step: impl Fn(A, &W, &X, X::Scale) -> A,
    finish: impl Fn(A) -> f32,
) -> f32 {
    // A loop, not `Iterator::fold`: the closure that would take would not inherit this
    // function's target features, so a large `step` could not be inlined into it.
    let mut acc = zero;
    for (w, x) in w.iter().zip(x) {
        acc = step(acc, w, x, x.act_scale());
    }
    finish(acc)
}

/// An activation block's scale as the steps take it. The many-row kernel (`fold_rows`)
/// converts the row's scales once for all its weight rows; the f16 conversions per block and
/// row were a sixth of a Q5_0 or Q8_0 step's instructions. The values are the same either way.
pub(super) trait ActScale {
    type Scale: Copy;
    /// # Safety
    /// The CPU has F16C (the kernels' target features).
    unsafe fn act_scale(&self) -> Self::Scale;
}

impl ActScale for BlockQ8_0 {
    type Scale = f32;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn act_scale(&self) -> f32 {
        fp16(self.d)
    }
}

/// (d, s) in lanes 0 and 1 (`offset_step`).
impl ActScale for BlockQ8_1 {
    type Scale = __m128;
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn act_scale(&self) -> __m128 {
        fp16_pair(self.d, self.s)
    }
}

impl ActScale for BlockQ8K {
    type Scale = f32;
    #[inline]
    unsafe fn act_scale(&self) -> f32 {
        self.scale()
    }
}

/// Activation blocks whose scales `fold_rows` converts up front: rows of up to 16384 columns
/// (longer ones convert per block as the one-row kernel does).
const ACT_SCALES: usize = 512;

/// Consecutive rows of `w` (each `x.len()` blocks; `w.len() == out.len() * x.len()`) against
/// one activation row in one call, without a call, length check and dispatch per row: for a
/// small model's short rows these cost a fifth of decode. The rows are folded one after the
/// other, not interleaved: interleaving four (independent accumulation chains) made decode 20 %
/// slower, as it breaks the sequential stream the hardware prefetcher follows. The weights
/// ahead are prefetched in software too (`PREFETCH_BYTES`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fold_rows<W, X: ActScale, A: Copy>(
    w: &[W],
    x: &[X],
    out: &mut [f32],
    zero: A,
    step: impl Fn(A, &W, &X, X::Scale) -> A,
    finish: impl Fn(A) -> f32,
) {
    if x.len() > ACT_SCALES {
        return fold_rows_with(w, x, out, |w, x| fold_row(w, x, zero, &step, &finish));
    }
    let mut scales = [std::mem::MaybeUninit::<X::Scale>::uninit(); ACT_SCALES];
    for (s, x) in scales.iter_mut().zip(x) {
        s.write(x.act_scale());
    }
    // SAFETY: the first x.len() were written just above.
    let scales = unsafe { std::slice::from_raw_parts(scales.as_ptr() as *const X::Scale, x.len()) };
    fold_rows_with(w, x, out, |w, x| {
        let mut acc = zero;
        for ((w, x), &s) in w.iter().zip(x).zip(scales) {
            acc = step(acc, w, x, s);
        }
        finish(acc)
    })
}

/// `fold_rows`' walk over the rows, each row's dot product `row(w_row, x)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fold_rows_with<W, X>(w: &[W], x: &[X], out: &mut [f32], row: impl Fn(&[W], &[X]) -> f32) {
    let row_bytes = x.len() * std::mem::size_of::<W>();
    let (start, end) = (w.as_ptr() as *const u8, w.as_ptr_range().end as *const u8);
    for (i, (o, r)) in out.iter_mut().zip(w.chunks_exact(x.len())).enumerate() {
        // Prefetch as many bytes as a row, PREFETCH_BYTES ahead, a cache line at a time (the
        // addresses stay inside `w`; a prefetch never faults).
        let ahead = start.wrapping_add(i * row_bytes + PREFETCH_BYTES);
        let mut at = 0;
        while at < row_bytes && ahead.wrapping_add(at) < end {
            _mm_prefetch(ahead.wrapping_add(at) as *const i8, _MM_HINT_T0);
            at += 64;
        }
        *o = row(r, x);
    }
}

/// How far ahead of the row it folds `fold_rows` prefetches the weights. On the 2-core VMs
/// this project is measured on, the hardware prefetcher alone left decode at a third of the
/// memory rate: prefetching 2-4 KiB ahead took tg32 from 38 to 85 t/s (Gemma 3 270M), 92-126
/// to 163 (SmolLM2-135M) and 18 to 40 (Qwen2.5 0.5B); 1 KiB and 8 KiB were slower.
const PREFETCH_BYTES: usize = 4096;

/// A tile of `TILE_ROWS` weight rows against `TILE_TOKENS` activation rows: each weight block
/// is loaded and unpacked once for the tile's tokens, each activation block (and its scale)
/// once for its rows (the inlined steps share them), and the tile's independent accumulation
/// chains hide each other's latency. Each result is `fold_row`'s bit for bit.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fold_tile<W, X: ActScale, A: Copy>(
    w: [&[W]; TILE_ROWS],
    x: [&[X]; TILE_TOKENS],
    zero: A,
    step: impl Fn(A, &W, &X, X::Scale) -> A,
    finish: impl Fn(A) -> f32,
) -> Tile {
    let mut acc = [[zero; TILE_TOKENS]; TILE_ROWS];
    for b in 0..x[0].len() {
        for (acc_r, w_r) in acc.iter_mut().zip(w) {
            let wb = &w_r[b];
            for (a, x_t) in acc_r.iter_mut().zip(x) {
                *a = step(*a, wb, &x_t[b], x_t[b].act_scale());
            }
        }
    }
    acc.map(|r| r.map(&finish))
}

/// Defines a format's dot products from one fold: one row `$one(w, x)`, a tile of rows against
/// activation rows `$tile(w, xs)` (unless `one:` says the tile is written by hand), and (where
/// given) many rows `$rows(w, x, out)`. Large steps are `#[inline(always)]` closures: left to
/// itself the inliner kept them out of line, where the target features, and so the inlining of
/// the helpers they call, are lost.
macro_rules! row_kernels {
    ($one:ident, $tile:ident, rows: $rows:ident, $w:ty, $x:ty, $zero:expr, $step:expr, $finish:expr) => {
        row_kernels!($one, $tile, $w, $x, $zero, $step, $finish);

        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) unsafe fn $rows(w: &[$w], x: &[$x], out: &mut [f32]) {
            fold_rows(w, x, out, $zero, $step, $finish)
        }
    };
    ($one:ident, $tile:ident, $w:ty, $x:ty, $zero:expr, $step:expr, $finish:expr) => {
        row_kernels!(one: $one, $w, $x, $zero, $step, $finish);

        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) unsafe fn $tile(w: [&[$w]; TILE_ROWS], x: [&[$x]; TILE_TOKENS]) -> Tile {
            fold_tile(w, x, $zero, $step, $finish)
        }
    };
    (one: $one:ident, $w:ty, $x:ty, $zero:expr, $step:expr, $finish:expr) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) unsafe fn $one(w: &[$w], x: &[$x]) -> f32 {
            fold_row(w, x, $zero, $step, $finish)
        }
    };
}

// The K-quant kernels (Q4_K, Q6_K) use the macro, so they are declared after it.
mod kquants;
use kquants::*;

row_kernels!(dot_q8_0, tile_q8_0, rows: rows_q8_0, BlockQ8_0, BlockQ8_0, _mm256_setzero_ps(), |a, w, x, dx| {
    scaled_step(a, x, fp16(w.d), dx, load32(&w.qs))
}, |a| hsum_f32(a));

row_kernels!(dot_q4_0, tile_q4_0, rows: rows_q4_0, BlockQ4_0, BlockQ8_0, _mm256_setzero_ps(), |a, w, x, dx| {
    scaled_step(a, x, fp16(w.d), dx, _mm256_sub_epi8(nibbles(&w.qs), _mm256_set1_epi8(8)))
}, |a| hsum_f32(a));

row_kernels!(dot_q5_0, tile_q5_0, rows: rows_q5_0, BlockQ5_0, BlockQ8_0, _mm256_setzero_ps(), |a, w, x, dx| {
    // Where the fifth bit is clear the value is nibble − 16: set the high nibble to 0xF.
    let clear = _mm256_andnot_si256(bytes_from_bits(u32::from_le_bytes(w.qh)), _mm256_set1_epi8(0xF0u8 as i8));
    scaled_step(a, x, fp16(w.d), dx, _mm256_or_si256(nibbles(&w.qs), clear))
}, |a| hsum_f32(a));

/// Two f16 (a block's d and m, or d and s) as f32 in lanes 0 and 1, one conversion for both.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fp16_pair(a: half::f16, b: half::f16) -> __m128 {
    _mm_cvtph_ps(_mm_cvtsi32_si128((a.to_bits() as u32 | (b.to_bits() as u32) << 16) as i32))
}

/// One block of Σ blocks d_w·d_x·Σ(q·x) + Σ blocks m_w·s_x, the formats with an offset (Q4_1,
/// Q5_1), whose quants `q` are unsigned: ggml's order, the offsets summed apart in f32 (lane 1
/// of the second accumulator) and added at the end (`offset_finish`). `dm` is the weight
/// block's (d, m) and `ds` the activation's (d, s) (`fp16_pair`): their products come from one
/// multiply, each the same rounding as its scalar form (four conversions were half the
/// block's instructions).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn offset_step(a: (__m256, __m128), x: &BlockQ8_1, dm: __m128, ds: __m128, q: __m256i) -> (__m256, __m128) {
    let p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, load32(&x.qs)), _mm256_set1_epi16(1));
    offset_scale(a, p, dm, ds)
}

/// `offset_step`'s f32 part, on the block's eight exact integer sums `p` (however summed).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn offset_scale((acc, offsets): (__m256, __m128), p: __m256i, dm: __m128, ds: __m128) -> (__m256, __m128) {
    let products = _mm_mul_ps(dm, ds);
    (_mm256_fmadd_ps(_mm256_broadcastss_ps(products), _mm256_cvtepi32_ps(p), acc), _mm_add_ps(offsets, products))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn offset_finish((acc, offsets): (__m256, __m128)) -> f32 {
    hsum_f32(acc) + _mm_cvtss_f32(_mm_movehdup_ps(offsets))
}

row_kernels!(dot_q4_1, tile_q4_1, rows: rows_q4_1, BlockQ4_1, BlockQ8_1, (_mm256_setzero_ps(), _mm_setzero_ps()), |a, w, x, ds| {
    offset_step(a, x, fp16_pair(w.d, w.m), ds, nibbles(&w.qs))
}, |a| offset_finish(a));

row_kernels!(dot_q5_1, tile_q5_1, rows: rows_q5_1, BlockQ5_1, BlockQ8_1, (_mm256_setzero_ps(), _mm_setzero_ps()), |a, w, x, ds| {
    offset_step(a, x, fp16_pair(w.d, w.m), ds, five_bits(&w.qs, w.qh))
}, |a| offset_finish(a));

row_kernels!(dot_iq4nl, tile_iq4nl, rows: rows_iq4nl, BlockIq4Nl, BlockQ8_0, _mm256_setzero_ps(), |a, w, x, dx| {
    scaled_step(a, x, fp16(w.d), dx, codebook(nibbles(&w.qs), &KVALUES_IQ4NL))
}, |a| hsum_f32(a));

row_kernels!(dot_mxfp4, tile_mxfp4, rows: rows_mxfp4, BlockMxfp4, BlockQ8_0, _mm256_setzero_ps(), |a, w, x, dx| {
    scaled_step(a, x, e8m0_to_f32_half(w.e), dx, codebook(nibbles(&w.qs), &KVALUES_MXFP4))
}, |a| hsum_f32(a));

// IQ4_XS: per 32-weight sub-block, exact integer sums times its 6-bit scale (in `madd`), one
// FMA per super-block.
row_kernels!(dot_iq4xs, tile_iq4xs, rows: rows_iq4xs, BlockIq4Xs, BlockQ8K, _mm256_setzero_ps(), #[inline(always)] |a, w, x, dx| {
    let (subs, _) = w.qs.as_chunks::<{ QK / 2 }>();
    let (xs, _) = x.qs.as_chunks::<QK>();
    let mut sum = _mm256_setzero_si256();
    for (ib, (qs, xq)) in subs.iter().zip(xs).enumerate() {
        let q = codebook(nibbles(qs), &KVALUES_IQ4NL);
        sum = _mm256_add_epi32(sum, dot_i8_pairs_by(q, load32(xq), iq4xs_scale(w, ib) as i16));
    }
    _mm256_fmadd_ps(_mm256_set1_ps(fp16(w.d) * dx), _mm256_cvtepi32_ps(sum), a)
}, |a| hsum_f32(a));

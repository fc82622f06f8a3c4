//! The AVX-512 VNNI batch tiles (Q8_0, Q4_1) and Q4_1's decode kernel: `vpdpbusd` does
//! maddubs + madd in one instruction. The tiles read activation and weight rows rewritten once
//! per batch into layouts of their own (`PreparedTile`); all are bit for bit the AVX2
//! single-row dot products of the parent module.
//!
//! Safety, for every `unsafe` below: the kernels are `#[target_feature(enable =
//! "avx2,fma,f16c,avx512vnni,avx512vl")]` functions reached only through `fast_prepared_tile`
//! and `fast_rows_vnni`, which hand them out after `has_vnni` has detected all five features;
//! loads read whole fixed-size array fields of blocks from `bytemuck` casts checked for equal
//! lengths.

use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::super::blocks::*;
use super::super::{GgmlType, PreparedTile, Tile, TILE_ROWS, TILE_TOKENS};
use super::{cast_tile, has_avx2, hsum_f32};

/// AVX-512 VNNI with 256-bit forms (VL), on top of `has_avx2`: `vpdpbusd` does maddubs + madd
/// in one instruction.
fn has_vnni() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| has_avx2() && is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl"))
}

/// A tile kernel for `ty` that reads its activation and weight rows prepared once per batch,
/// bit for bit `fast_dot` per pair, if this CPU has one: Q8_0 and Q4_1 with AVX-512 VNNI
/// (`tile_q8_0_vnni`, `tile_q4_1_vnni`).
pub fn fast_prepared_tile(ty: GgmlType) -> Option<PreparedTile> {
    if !has_vnni() {
        return None;
    }
    match ty {
        GgmlType::Q8_0 => Some(PreparedTile {
            row_bytes: |n| n / QK * std::mem::size_of::<BlockQ8_0Biased>(),
            prepare: prepare_q8_0_biased,
            w_row_bytes: |n| n / QK * std::mem::size_of::<BlockQ8_0Vnni>(),
            prepare_w: prepare_q8_0_vnni,
            // SAFETY: AVX2, FMA, F16C, AVX-512 VNNI and VL were detected just above.
            tile: |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q8_0_vnni(w, x) }),
        }),
        GgmlType::Q4_1 => Some(PreparedTile {
            row_bytes: |n| n / QK * std::mem::size_of::<BlockQ8_1F32>(),
            prepare: prepare_q8_1_f32,
            w_row_bytes: |n| n / QK * std::mem::size_of::<BlockQ4_1Vnni>(),
            prepare_w: prepare_q4_1_vnni,
            // SAFETY: as above.
            tile: |w, x| cast_tile(w, x).map(|(w, x)| unsafe { tile_q4_1_vnni(w, x) }),
        }),
        _ => None,
    }
}

/// A Q8_0 activation block as `tile_q8_0_vnni` reads it: the quants + 128 as unsigned bytes
/// (what `vpdpbusd` multiplies), the scale already in f32.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct BlockQ8_0Biased {
    d: f32,
    qs: [u8; QK],
}

/// `x`, Q8_0 blocks, as `BlockQ8_0Biased` into `out`; false where the lengths do not fit.
fn prepare_q8_0_biased(x: &[u8], out: &mut [u8]) -> bool {
    rewrite_blocks(x, out, |b: &BlockQ8_0| BlockQ8_0Biased { d: b.d.to_f32(), qs: b.qs.map(|q| (q as u8) ^ 0x80) })
}

/// Blocks of `A` in `src` rewritten one by one by `f` into `out`, bytes of as many `B`; false
/// where the lengths do not fit.
fn rewrite_blocks<A: bytemuck::Pod, B: bytemuck::Pod>(src: &[u8], out: &mut [u8], f: impl Fn(&A) -> B) -> bool {
    let (Ok(src), Ok(out)) = (bytemuck::try_cast_slice::<u8, A>(src), bytemuck::try_cast_slice_mut::<u8, B>(out))
    else {
        return false;
    };
    if src.len() != out.len() {
        return false;
    }
    for (o, b) in out.iter_mut().zip(src) {
        *o = f(b);
    }
    true
}

/// A Q8_0 weight block as `tile_q8_0_vnni` reads it: the scale already in f32, and -128 times
/// the sum of each lane's four quants (what the biased activations add to each lane's dot).
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct BlockQ8_0Vnni {
    d: f32,
    minus_128_sums: [i32; 8],
    qs: [i8; QK],
}

/// `w`, Q8_0 blocks, as `BlockQ8_0Vnni` into `out`; false where the lengths do not fit.
fn prepare_q8_0_vnni(w: &[u8], out: &mut [u8]) -> bool {
    rewrite_blocks(w, out, |b: &BlockQ8_0| {
        let sums = std::array::from_fn(|l| -128 * b.qs[4 * l..4 * l + 4].iter().map(|&q| i32::from(q)).sum::<i32>());
        BlockQ8_0Vnni { d: b.d.to_f32(), minus_128_sums: sums, qs: b.qs }
    })
}

/// A Q8_1 activation block as `tile_q4_1_vnni` reads it: its scale and d·Σq already in f32.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct BlockQ8_1F32 {
    d: f32,
    s: f32,
    qs: [i8; QK],
}

/// `x`, Q8_1 blocks, as `BlockQ8_1F32` into `out`; false where the lengths do not fit.
fn prepare_q8_1_f32(x: &[u8], out: &mut [u8]) -> bool {
    rewrite_blocks(x, out, |b: &BlockQ8_1| BlockQ8_1F32 { d: b.d.to_f32(), s: b.s.to_f32(), qs: b.qs })
}

/// A Q4_1 weight block as `tile_q4_1_vnni` reads it: scale and offset in f32, the 32 nibbles
/// one a byte in the order of the activations they meet (the low nibbles, then the high).
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct BlockQ4_1Vnni {
    d: f32,
    m: f32,
    qs: [u8; QK],
}

/// `w`, Q4_1 blocks, as `BlockQ4_1Vnni` into `out`; false where the lengths do not fit.
fn prepare_q4_1_vnni(w: &[u8], out: &mut [u8]) -> bool {
    rewrite_blocks(w, out, |b: &BlockQ4_1| BlockQ4_1Vnni {
        d: b.d.to_f32(),
        m: b.m.to_f32(),
        qs: std::array::from_fn(|i| if i < QK / 2 { b.qs[i] & 0x0F } else { b.qs[i - QK / 2] >> 4 }),
    })
}

/// `tile_q4_1` with `vpdpbusd`: the nibbles are unsigned and the activations signed, as
/// `vpdpbusd` multiplies them, so each i32 lane is Σ q·x over its four bytes exactly as maddubs +
/// madd give it, and the f32 steps are `offset_step`'s (scales and offsets converted once per
/// batch): bit for bit the same.
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
unsafe fn tile_q4_1_vnni(w: [&[BlockQ4_1Vnni]; TILE_ROWS], x: [&[BlockQ8_1F32]; TILE_TOKENS]) -> Tile {
    let mut acc = [[(_mm256_setzero_ps(), 0.0f32); TILE_TOKENS]; TILE_ROWS];
    for b in 0..x[0].len() {
        let xq: [__m256i; TILE_TOKENS] =
            std::array::from_fn(|t| _mm256_loadu_si256(x[t][b].qs.as_ptr() as *const __m256i));
        for (acc_r, w_r) in acc.iter_mut().zip(w) {
            let wb = &w_r[b];
            let q = _mm256_loadu_si256(wb.qs.as_ptr() as *const __m256i);
            for ((a, offsets), (x_t, xq)) in acc_r.iter_mut().zip(x.iter().zip(xq)) {
                let p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, xq);
                *a = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * x_t[b].d), _mm256_cvtepi32_ps(p), *a);
                *offsets += wb.m * x_t[b].s;
            }
        }
    }
    acc.map(|r| r.map(|(a, offsets)| hsum_f32(a) + offsets))
}

/// `tile_q8_0` with `vpdpbusd`, for batches, which are compute-bound (a server's LM head, Q4_0
/// and Q5_0 rows widened to Q8_0). `vpdpbusd` multiplies unsigned by signed bytes, so the
/// activations come as x + 128 (`BlockQ8_0Biased`, prepared once per batch, with their scales
/// already in f32) and the accumulator starts from -128·Σw (`BlockQ8_0Vnni`, each weight row
/// prepared once per batch): each i32 lane is then Σ w·x over its four bytes exactly, as
/// maddubs + madd give it (maddubs cannot saturate here: |w| ≤ 128, |x| ≤ 127), and the f32
/// steps are `scaled_step`'s, so the results are bit for bit the same.
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
unsafe fn tile_q8_0_vnni(w: [&[BlockQ8_0Vnni]; TILE_ROWS], x: [&[BlockQ8_0Biased]; TILE_TOKENS]) -> Tile {
    let mut acc = [[_mm256_setzero_ps(); TILE_TOKENS]; TILE_ROWS];
    for b in 0..x[0].len() {
        let mut xu = [_mm256_setzero_si256(); TILE_TOKENS];
        let mut dx = [_mm256_setzero_ps(); TILE_TOKENS];
        for ((u, d), x_t) in xu.iter_mut().zip(dx.iter_mut()).zip(x) {
            *u = _mm256_loadu_si256(x_t[b].qs.as_ptr() as *const __m256i);
            *d = _mm256_set1_ps(x_t[b].d);
        }
        for (acc_r, w_r) in acc.iter_mut().zip(w) {
            let wb = &w_r[b];
            let wq = _mm256_loadu_si256(wb.qs.as_ptr() as *const __m256i);
            let minus_128_sum = _mm256_loadu_si256(wb.minus_128_sums.as_ptr() as *const __m256i);
            let dw = _mm256_set1_ps(wb.d);
            for ((a, u), d) in acc_r.iter_mut().zip(xu).zip(dx) {
                let s = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(minus_128_sum, u, wq));
                *a = _mm256_fmadd_ps(_mm256_mul_ps(dw, d), s, *a);
            }
        }
    }
    acc.map(|r| r.map(|a| hsum_f32(a)))
}

/// `rows_q4_1` (the decode kernel) with each block's nibble × activation products summed by
/// one `vpdpbusd` in place of maddubs + madd: the same exact integer lanes (a nibble pair's
/// products cannot saturate maddubs' i16), the same f32 steps, so bit for bit the same sums.
/// SmolLM2-135M tg32 +4-5 % at 1 and 2 threads.
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
unsafe fn rows_q4_1_vnni(w: &[BlockQ4_1], x: &[BlockQ8_1], out: &mut [f32]) {
    super::fold_rows(
        w,
        x,
        out,
        (_mm256_setzero_ps(), _mm_setzero_ps()),
        #[inline(always)]
        |a, w, x, ds| {
            let p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), super::nibbles(&w.qs), super::load32(&x.qs));
            super::offset_scale(a, p, super::fp16_pair(w.d, w.m), ds)
        },
        |a| super::offset_finish(a),
    )
}

/// The VNNI decode kernel for `ty` over many rows, if this CPU has one (Q4_1).
pub fn fast_rows_vnni(ty: GgmlType) -> Option<super::super::RowsDotFn> {
    if !has_vnni() || ty != GgmlType::Q4_1 {
        return None;
    }
    // SAFETY: AVX2, FMA, F16C, AVX-512 VNNI and VL were detected just above; `cast_rows`
    // checked that `w` holds `out.len()` rows of `x.len()` blocks.
    Some(|w, x, out| super::cast_rows(w, x, out).map(|(w, x)| unsafe { rows_q4_1_vnni(w, x, out) }).is_some())
}

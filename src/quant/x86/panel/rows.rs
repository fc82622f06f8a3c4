//! The panel GEMM's sums for one token straight from the stored weight rows (decode), bit for
//! bit its lanes: each row's sub-block dot products are taken exactly in integers (AVX2, the
//! parent module's unpacking), sixteen rows' at a time are laid out as the panel's lanes, and the
//! f32 steps are then `pass`'s own instructions on the same lane values. A token's results are
//! therefore the same whether it is decoded alone or prefilled in a batch of any size.
//!
//! Safety, for every `unsafe` below: the row passes are `#[target_feature(enable =
//! "avx2,fma,f16c,avx512vnni,avx512vl")]` and the f32 pass `avx512f,avx512vnni` functions
//! reached only through `panel_gemm`, which hands them out after `has_panel_isa` (AVX-512 F,
//! VL and VNNI) and `rows_by` after `has_avx2` have detected them; loads read whole
//! fixed-size array fields of blocks from `bytemuck` casts whose lengths `rows_by` checks.

use std::arch::x86_64::*;

use bytemuck::Pod;

use super::super::super::blocks::*;
use super::super::super::nonlinear::iq4xs_scale;
use super::super::{codebook, five_bits, fp16, has_avx2, load32, nibbles, q6k_unpack, PREFETCH_BYTES};
use super::{XSub, PANEL_ROWS};

/// Sixteen rows' sub-block sums, scales and mins, `[sub-block][row]`: the panel's lanes.
pub(super) struct Lanes {
    isum: Vec<[i32; PANEL_ROWS]>,
    scale: Vec<[f32; PANEL_ROWS]>,
    min: Vec<[f32; PANEL_ROWS]>,
}

/// One weight row's pass: its sub-block sums against `x` and its scales and mins, into lane
/// `r` of `lanes`.
type RowPass<B, const L: usize> = unsafe fn(w: &[B], x: &[XSub<L>], r: usize, lanes: &mut Lanes);

/// `out[r]` = row r of `w` (blocks of `B`) · `x`, sixteen rows at a time through `row_pass` and
/// the panel's f32 steps.
pub(super) fn rows_by<B: Pod, const L: usize, const SUBS: usize, const MINS: bool>(
    w: &[u8],
    x: &[u8],
    out: &mut [f32],
    row_pass: RowPass<B, L>,
) -> bool {
    let (Ok(w), Ok(x)) = (bytemuck::try_cast_slice::<u8, B>(w), bytemuck::try_cast_slice::<u8, XSub<L>>(x)) else {
        return false;
    };
    let per_row = x.len() / SUBS;
    if out.is_empty() || per_row == 0 || x.len() != per_row * SUBS || w.len() != per_row * out.len() || !has_avx2() {
        return false;
    }
    let (n_subs, zero) = (x.len(), [0.0; PANEL_ROWS]);
    let mut lanes = Lanes { isum: vec![[0; PANEL_ROWS]; n_subs], scale: vec![zero; n_subs], min: vec![zero; n_subs] };
    let row_bytes = per_row * size_of::<B>();
    let end = w.as_ptr_range().end as *const u8;
    for (rows, out) in w.chunks(PANEL_ROWS * per_row).zip(out.chunks_mut(PANEL_ROWS)) {
        for (r, row) in rows.chunks_exact(per_row).enumerate() {
            // Prefetch a row's bytes PREFETCH_BYTES ahead, as the AVX2 row kernels do (a
            // prefetch never faults; the addresses stay inside `w`).
            let ahead = (row.as_ptr() as *const u8).wrapping_add(PREFETCH_BYTES);
            let mut at = 0;
            while at < row_bytes && ahead.wrapping_add(at) < end {
                // SAFETY: a prefetch hint; SSE is part of x86_64.
                unsafe { _mm_prefetch(ahead.wrapping_add(at) as *const i8, _MM_HINT_T0) };
                at += 64;
            }
            // SAFETY: see the module's header; `row` holds `per_row` blocks and `x` the
            // sub-blocks of as many.
            unsafe { row_pass(row, x, r, &mut lanes) };
        }
        let mut results = [0.0f32; PANEL_ROWS];
        // SAFETY: see the module's header.
        unsafe { _mm512_storeu_ps(results.as_mut_ptr(), lanes_f32::<L, MINS>(&lanes, x)) };
        out.copy_from_slice(&results[..out.len()]);
    }
    true
}

/// `pass`'s f32 steps for one token over `lanes`: the same instructions on the same values.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn lanes_f32<const L: usize, const MINS: bool>(lanes: &Lanes, x: &[XSub<L>]) -> __m512 {
    let mut acc = _mm512_setzero_ps();
    for (s, x_s) in x.iter().enumerate() {
        let dot = _mm512_loadu_si512(lanes.isum[s].as_ptr() as *const __m512i);
        let scale = _mm512_loadu_ps(lanes.scale[s].as_ptr());
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(scale, _mm512_set1_ps(x_s.d)), acc);
        if MINS {
            acc = _mm512_fnmadd_ps(_mm512_loadu_ps(lanes.min[s].as_ptr()), _mm512_set1_ps(x_s.dsum), acc);
        }
    }
    acc
}

/// Σ over each i32 lane's four bytes of u·x, u unsigned and x signed (exact: `vpdpbusd`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
unsafe fn dot_u8(u: __m256i, x: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, x)
}

/// Σx of an activation sub-block, from the -128·Σx it carries (exact).
fn sum_x<const L: usize>(x: &XSub<L>) -> i32 {
    -x.minus_128_sum / 128
}

/// Lane j of the result: the sum of the eight i32 lanes of `p[j]` (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
unsafe fn sums8(p: [__m256i; 8]) -> [i32; 8] {
    let (b0, b1) = halves8(p);
    let total = _mm256_add_epi32(_mm256_permute2x128_si256(b0, b1, 0x20), _mm256_permute2x128_si256(b0, b1, 0x31));
    std::mem::transmute(total)
}

/// The sums of each 128-bit half of `p[0..8]`: lanes [p0 p1 p2 p3 | p0 p1 p2 p3] (low halves,
/// then high) of the first, the same for p4..p7 in the second.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
unsafe fn halves8(p: [__m256i; 8]) -> (__m256i, __m256i) {
    let a = [
        _mm256_hadd_epi32(p[0], p[1]),
        _mm256_hadd_epi32(p[2], p[3]),
        _mm256_hadd_epi32(p[4], p[5]),
        _mm256_hadd_epi32(p[6], p[7]),
    ];
    (_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]))
}

/// The legacy and codebook formats: one 32-weight sub-block per block, `decode` giving its
/// scale, min and 32 unsigned bytes u whose values are u − `OFFSET`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
unsafe fn legacy_row<B, const OFFSET: i32, const MINS: bool>(
    w: &[B],
    x: &[XSub<QK>],
    r: usize,
    lanes: &mut Lanes,
    decode: impl Fn(&B) -> (f32, f32, __m256i),
) {
    for (g, (wb, xb)) in w.chunks(8).zip(x.chunks(8)).enumerate() {
        let mut p = [_mm256_setzero_si256(); 8];
        for (j, (b, x_b)) in wb.iter().zip(xb).enumerate() {
            let (scale, min, u) = decode(b);
            p[j] = dot_u8(u, load32(&x_b.qs));
            lanes.scale[8 * g + j][r] = scale;
            if MINS {
                lanes.min[8 * g + j][r] = min;
            }
        }
        for (j, (sum, x_b)) in sums8(p).into_iter().zip(xb).enumerate() {
            lanes.isum[8 * g + j][r] = sum - OFFSET * sum_x(x_b);
        }
    }
}

/// Signed bytes as `vpdpbusd`'s unsigned operand: v + 128 (`OFFSET` 128).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
unsafe fn biased(v: __m256i) -> __m256i {
    _mm256_xor_si256(v, _mm256_set1_epi8(0x80u8 as i8))
}

#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn row_q8_0(w: &[BlockQ8_0], x: &[XSub<QK>], r: usize, lanes: &mut Lanes) {
    legacy_row::<_, 128, false>(w, x, r, lanes, |b| (fp16(b.d), 0.0, biased(load32(&b.qs))))
}

#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn row_q4_0(w: &[BlockQ4_0], x: &[XSub<QK>], r: usize, lanes: &mut Lanes) {
    legacy_row::<_, 8, false>(w, x, r, lanes, |b| (fp16(b.d), 0.0, nibbles(&b.qs)))
}

#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn row_q5_0(w: &[BlockQ5_0], x: &[XSub<QK>], r: usize, lanes: &mut Lanes) {
    legacy_row::<_, 16, false>(w, x, r, lanes, |b| (fp16(b.d), 0.0, five_bits(&b.qs, b.qh)))
}

#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn row_q4_1(w: &[BlockQ4_1], x: &[XSub<QK>], r: usize, lanes: &mut Lanes) {
    legacy_row::<_, 0, true>(w, x, r, lanes, |b| (fp16(b.d), -fp16(b.m), nibbles(&b.qs)))
}

#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn row_q5_1(w: &[BlockQ5_1], x: &[XSub<QK>], r: usize, lanes: &mut Lanes) {
    legacy_row::<_, 0, true>(w, x, r, lanes, |b| (fp16(b.d), -fp16(b.m), five_bits(&b.qs, b.qh)))
}

#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn row_iq4nl(w: &[BlockIq4Nl], x: &[XSub<QK>], r: usize, lanes: &mut Lanes) {
    legacy_row::<_, 128, false>(w, x, r, lanes, |b| (fp16(b.d), 0.0, biased(codebook(nibbles(&b.qs), &KVALUES_IQ4NL))))
}

#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn row_mxfp4(w: &[BlockMxfp4], x: &[XSub<QK>], r: usize, lanes: &mut Lanes) {
    legacy_row::<_, 128, false>(w, x, r, lanes, |b| {
        (e8m0_to_f32_half(b.e), 0.0, biased(codebook(nibbles(&b.qs), &KVALUES_MXFP4)))
    })
}

/// IQ4_XS: eight 32-weight sub-blocks per block, each with its scale.
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn row_iq4xs(w: &[BlockIq4Xs], x: &[XSub<QK>], r: usize, lanes: &mut Lanes) {
    for (i, (b, xs)) in w.iter().zip(x.chunks_exact(QK_K / QK)).enumerate() {
        let (subs, _) = b.qs.as_chunks::<{ QK / 2 }>();
        let mut p = [_mm256_setzero_si256(); 8];
        for ((p, qs), x_s) in p.iter_mut().zip(subs).zip(xs) {
            *p = dot_u8(biased(codebook(nibbles(qs), &KVALUES_IQ4NL)), load32(&x_s.qs));
        }
        let d = fp16(b.d);
        for (s, (sum, x_s)) in sums8(p).into_iter().zip(xs).enumerate() {
            lanes.isum[8 * i + s][r] = sum - 128 * sum_x(x_s);
            lanes.scale[8 * i + s][r] = d * iq4xs_scale(b, s) as f32;
        }
    }
}

/// Q4_K: eight 32-weight sub-blocks per block, the low then the high nibbles of each 32 bytes.
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn row_q4k(w: &[BlockQ4K], x: &[XSub<QK>], r: usize, lanes: &mut Lanes) {
    let m4 = _mm256_set1_epi8(0x0F);
    for (i, (b, xs)) in w.iter().zip(x.chunks_exact(QK_K / QK)).enumerate() {
        let mut p = [_mm256_setzero_si256(); 8];
        for j in 0..4 {
            let q = _mm256_loadu_si256(b.qs.as_ptr().add(32 * j) as *const __m256i);
            p[2 * j] = dot_u8(_mm256_and_si256(q, m4), load32(&xs[2 * j].qs));
            p[2 * j + 1] = dot_u8(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), load32(&xs[2 * j + 1].qs));
        }
        let (d, dmin) = (fp16(b.d), fp16(b.dmin));
        for (s, sum) in sums8(p).into_iter().enumerate() {
            let (sc, m) = scale_min_k4(s, &b.scales);
            lanes.isum[8 * i + s][r] = sum;
            lanes.scale[8 * i + s][r] = d * sc as f32;
            lanes.min[8 * i + s][r] = dmin * m as f32;
        }
    }
}

/// Q6_K: sixteen 16-weight sub-blocks per block; each 32 unpacked values hold two, whose sums
/// are the halves' (`halves8`).
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
pub(super) unsafe fn row_q6k(w: &[BlockQ6K], x: &[XSub<16>], r: usize, lanes: &mut Lanes) {
    for (i, (b, xs)) in w.iter().zip(x.chunks_exact(QK_K / 16)).enumerate() {
        let u = q6k_unpack(b);
        let mut p = [_mm256_setzero_si256(); 8];
        for (k, p) in p.iter_mut().enumerate() {
            let lo = _mm_loadu_si128(xs[2 * k].qs.as_ptr() as *const __m128i);
            let hi = _mm_loadu_si128(xs[2 * k + 1].qs.as_ptr() as *const __m128i);
            *p = dot_u8(u.quants[k], _mm256_set_m128i(hi, lo));
        }
        // Lanes of the halves: sub-blocks [0 2 4 6 | 1 3 5 7], then the same + 8.
        let (b0, b1): ([i32; 8], [i32; 8]) = std::mem::transmute(halves8(p));
        let d = fp16(b.d);
        for (half, sums) in [b0, b1].into_iter().enumerate() {
            for (lane, sum) in sums.into_iter().enumerate() {
                let s = 16 * i + 8 * half + 2 * (lane % 4) + lane / 4;
                // The values are the 6-bit quants less 32.
                lanes.isum[s][r] = sum - 32 * sum_x(&x[s]);
                lanes.scale[s][r] = d * b.scales[s - 16 * i] as f32;
            }
        }
    }
}

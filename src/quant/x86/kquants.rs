//! The AVX2 K-quant kernels (Q4_K, Q6_K): ggml's single-row kernels and its batch orders
//! (Q4_K's repacked GEMV/GEMM, Q6_K's tiled kernel), each defined once as a fold (`row_kernels!`)
//! or, where a tile decodes each weight block once for its tokens, by hand.
//!
//! Safety: as for the parent module, whose helpers these use (`#[target_feature(enable =
//! "avx2,fma,f16c")]` functions handed out only after `has_avx2`; loads within whole fields).

use std::arch::x86_64::*;

// The parent's helpers and types, and the block formats.
use super::*;

/// A Q4_K block's eight 6-bit scales, broadcast for `madd`, and its eight mins: decoded once
/// per block and weight row, shared by a tile's tokens.
pub(super) struct Q4kScales {
    scales: [[__m256i; 2]; 4],
    mins: [[i32; 2]; 4],
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4k_scales(w: &BlockQ4K) -> Q4kScales {
    let mut out = Q4kScales { scales: [[_mm256_setzero_si256(); 2]; 4], mins: [[0; 2]; 4] };
    for j in 0..4 {
        let (s0, m0) = scale_min_k4(2 * j, &w.scales);
        let (s1, m1) = scale_min_k4(2 * j + 1, &w.scales);
        out.scales[j] = [_mm256_set1_epi16(s0 as i16), _mm256_set1_epi16(s1 as i16)];
        out.mins[j] = [m0 as i32, m1 as i32];
    }
    out
}

/// The exact integer dots of one Q4_K block, per 64-element pair of sub-blocks:
/// (Σ scale·q·x, Σ min·bsum) for pairs 0..4.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4k_pair_sums(w: &BlockQ4K, sc: &Q4kScales, x: &BlockQ8K) -> [(i32, i32); 4] {
    let low = _mm256_set1_epi8(0x0F);
    let mut out = [(0, 0); 4];
    for (j, o) in out.iter_mut().enumerate() {
        let [m0, m1] = sc.mins[j];
        let mins = m0 * (x.bsum(4 * j) + x.bsum(4 * j + 1)) + m1 * (x.bsum(4 * j + 2) + x.bsum(4 * j + 3));
        let q4 = _mm256_loadu_si256(w.qs.as_ptr().add(32 * j) as *const __m256i);
        let q8l = _mm256_loadu_si256(x.qs.as_ptr().add(64 * j) as *const __m256i);
        let q8h = _mm256_loadu_si256(x.qs.as_ptr().add(64 * j + 32) as *const __m256i);
        let pl = _mm256_maddubs_epi16(_mm256_and_si256(q4, low), q8l);
        let ph = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q4, 4), low), q8h);
        let sum = _mm256_add_epi32(_mm256_madd_epi16(pl, sc.scales[j][0]), _mm256_madd_epi16(ph, sc.scales[j][1]));
        *o = (hsum_i32(sum), mins);
    }
    out
}

// ggml's repacked Q4_K GEMV (single rows): one FMA per super-block into the scaled and the
// min accumulator, subtracted at the end.
row_kernels!(
    dot_q4k, tile_q4k, rows: rows_q4k, BlockQ4K, BlockQ8K, (0.0f32, 0.0f32),
    #[inline(always)]
    |(acc, acc_min): (f32, f32), w, x, dx| {
        let pairs = q4k_pair_sums(w, &q4k_scales(w), x);
        let (q, m) = pairs.iter().fold((0, 0), |(a, b), p| (a + p.0, b + p.1));
        ((q as f32).mul_add(fp16(w.d) * dx, acc), (m as f32).mul_add(fp16(w.dmin) * dx, acc_min))
    },
    |(acc, acc_min)| acc - acc_min
);

/// One Q4_K block of ggml's repacked Q4_K GEMM (rows in groups of four): one FMA per sub-block
/// pair.
#[inline(always)]
unsafe fn q4k_gemm_step((mut acc, mut acc_min): (f32, f32), w: &BlockQ4K, sc: &Q4kScales, x: &BlockQ8K) -> (f32, f32) {
    let (d, dmin) = (fp16(w.d) * x.scale(), fp16(w.dmin) * x.scale());
    for (q, m) in q4k_pair_sums(w, sc, x) {
        acc = (q as f32).mul_add(d, acc);
        acc_min = (m as f32).mul_add(dmin, acc_min);
    }
    (acc, acc_min)
}

row_kernels!(
    one: dot_q4k_gemm,
    BlockQ4K,
    BlockQ8K,
    (0.0f32, 0.0f32),
    #[inline(always)]
    |acc: (f32, f32), w, x, _| q4k_gemm_step(acc, w, &q4k_scales(w), x),
    |(acc, acc_min)| acc - acc_min
);

/// `dot_q4k_gemm` over a tile, bit for bit per pair, `fold_tile`'s loop with each weight
/// block's scales decoded once for the tile's tokens (decoding them per token was a fifth of
/// the kernel).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn tile_q4k_gemm(w: [&[BlockQ4K]; TILE_ROWS], x: [&[BlockQ8K]; TILE_TOKENS]) -> Tile {
    let mut acc = [[(0.0f32, 0.0f32); TILE_TOKENS]; TILE_ROWS];
    for b in 0..x[0].len() {
        for (acc_r, w_r) in acc.iter_mut().zip(w) {
            let (wb, sc) = (&w_r[b], q4k_scales(&w_r[b]));
            for (a, x_t) in acc_r.iter_mut().zip(x) {
                *a = q4k_gemm_step(*a, wb, &sc, &x_t[b]);
            }
        }
    }
    acc.map(|r| r.map(|(acc, acc_min)| acc - acc_min))
}

/// A Q6_K block's 256 weights as signed bytes + 32, in the order of the Q8_K quants they meet,
/// with its sixteen scales broadcast for `madd` and widened for the offset: unpacked once per
/// block and weight row, shared by a tile's tokens.
pub(super) struct Q6kUnpacked {
    pub(super) quants: [__m256i; 8],
    scales: [__m256i; 8],
    scales16: __m256i,
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn q6k_unpack(w: &BlockQ6K) -> Q6kUnpacked {
    let (m4, m2) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x03));
    let mut out = Q6kUnpacked {
        quants: [_mm256_setzero_si256(); 8],
        scales: [_mm256_setzero_si256(); 8],
        scales16: _mm256_cvtepi8_epi16(_mm_loadu_si128(w.scales.as_ptr() as *const __m128i)),
    };
    for n in 0..2 {
        let ql0 = _mm256_loadu_si256(w.ql.as_ptr().add(64 * n) as *const __m256i);
        let ql1 = _mm256_loadu_si256(w.ql.as_ptr().add(64 * n + 32) as *const __m256i);
        let qh = _mm256_loadu_si256(w.qh.as_ptr().add(32 * n) as *const __m256i);
        let chunks = [
            _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)),
            _mm256_or_si256(
                _mm256_and_si256(ql1, m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4),
            ),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4),
            ),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4),
            ),
        ];
        for (c, q) in chunks.into_iter().enumerate() {
            let s = (128 * n + 32 * c) / 16;
            out.quants[4 * n + c] = q;
            out.scales[4 * n + c] =
                _mm256_set_m128i(_mm_set1_epi16(w.scales[s + 1] as i16), _mm_set1_epi16(w.scales[s] as i16));
        }
    }
    out
}

/// The exact integer dot of one Q6_K block (unpacked) with a Q8_K block, in ggml's eight AVX2
/// lanes: the −32 offset comes off per lane through the block sums, as in
/// `ggml_vec_dot_q6_K_q8_K`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6k_block_lanes(w: &Q6kUnpacked, x: &BlockQ8K) -> __m256i {
    let bsums = _mm256_loadu_si256(x.bsums.as_ptr() as *const __m256i);
    let offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, w.scales16), 5);
    let mut isum = _mm256_setzero_si256();
    for n in 0..2 {
        let mut p = [_mm256_setzero_si256(); 4];
        for (c, p) in p.iter_mut().enumerate() {
            let q8 = _mm256_loadu_si256(x.qs.as_ptr().add(128 * n + 32 * c) as *const __m256i);
            *p = _mm256_madd_epi16(w.scales[4 * n + c], _mm256_maddubs_epi16(w.quants[4 * n + c], q8));
        }
        isum = _mm256_add_epi32(isum, _mm256_add_epi32(p[0], p[1]));
        isum = _mm256_add_epi32(isum, _mm256_add_epi32(p[2], p[3]));
    }
    _mm256_sub_epi32(isum, offset)
}

// ggml's single-row Q6_K kernel: the eight lanes are scaled and accumulated in f32 per block.
row_kernels!(dot_q6k, tile_q6k, rows: rows_q6k, BlockQ6K, BlockQ8K, _mm256_setzero_ps(), #[inline(always)] |acc, w, x, dx| {
    let lanes = q6k_block_lanes(&q6k_unpack(w), x);
    _mm256_fmadd_ps(_mm256_set1_ps(dx * fp16(w.d)), _mm256_cvtepi32_ps(lanes), acc)
}, |a| hsum_f32(a));

/// One Q6_K block of ggml's tiled batch Q6_K kernel: one exact integer per block, scaled and
/// summed in f32.
#[inline(always)]
unsafe fn q6k_tiled_step(acc: f32, w: &BlockQ6K, unpacked: &Q6kUnpacked, x: &BlockQ8K) -> f32 {
    let s1 = hsum_i32(q6k_block_lanes(unpacked, x));
    acc + (fp16(w.d) * s1 as f32) * x.scale()
}

row_kernels!(
    one: dot_q6k_tiled,
    BlockQ6K,
    BlockQ8K,
    0.0f32,
    #[inline(always)]
    |acc: f32, w, x, _| q6k_tiled_step(acc, w, &q6k_unpack(w), x),
    |a| a
);

/// `dot_q6k_tiled` over a tile, bit for bit per pair, each weight block unpacked once for the
/// tile's tokens.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn tile_q6k_tiled(w: [&[BlockQ6K]; TILE_ROWS], x: [&[BlockQ8K]; TILE_TOKENS]) -> Tile {
    let mut acc = [[0.0f32; TILE_TOKENS]; TILE_ROWS];
    for b in 0..x[0].len() {
        for (acc_r, w_r) in acc.iter_mut().zip(w) {
            let (wb, unpacked) = (&w_r[b], q6k_unpack(&w_r[b]));
            for (a, x_t) in acc_r.iter_mut().zip(x) {
                *a = q6k_tiled_step(*a, wb, &unpacked, &x_t[b]);
            }
        }
    }
    acc
}

//! The AVX-512 VNNI panel GEMM for prefill, one kernel for every format: sixteen weight rows
//! decoded to signed bytes and interleaved four bytes at a time, so that one 512-bit
//! `vpdpbusd` takes four bytes of one activation (broadcast) against the same four bytes of the
//! sixteen rows, and the sixteen lanes end each sub-block holding sixteen whole integer dot
//! products, scaled in f32 once per sub-block and token, with no horizontal sum (ggml's CPU
//! repack does the same with eight rows, for Q4_0, Q4_K and IQ4_NL).
//!
//! Every format decodes, per sub-block of 16 or 32 weights, to `scale · q - min` with q a
//! signed byte (`Decoded` for the K-quants, the block's values for the others); the activation
//! sub-blocks carry their scale, their sum and -128·Σx, since `vpdpbusd` multiplies unsigned by
//! signed bytes and the weights are stored as q + 128.
//!
//! Its sums are its own: each output is Σ over sub-blocks, in order, of
//! `fma(int dot, scale_w·d_x)` (less `min_w · d_x·Σx`), the same for a token whatever it is
//! batched with, but not the single-row dot product's rounding (see `SumOrder`).
//!
//! Safety, for every `unsafe` below: the kernels are `#[target_feature(enable =
//! "avx512f,avx512vnni")]` functions reached only through `panel_gemm`, which hands them out
//! after `has_panel_isa` has detected both; every load reads a whole fixed-size array field (or
//! four bytes inside one, at an offset the loop bounds keep within it) of a block from a
//! `bytemuck` cast whose length `run` checks.

use std::arch::x86_64::*;
use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};

use super::super::blocks::*;
use super::super::kquants::{self, Decoded};
use super::super::legacy::{q4_0_values, q4_1_values, q5_0_values, q5_1_values};
use super::super::nonlinear::{codebook_values, iq4xs_scale, iq4xs_sub};
use super::super::{GgmlType, PanelGemm, PanelOut, PanelRowsFn, PrepareFn, PANEL_ROWS};

mod rows;

fn has_panel_isa() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("avx512vl")
    })
}

/// The panel GEMM for weight type `ty`, if this CPU has the instructions (AVX-512 F, VL, VNNI)
/// and the format is one real models use.
pub fn panel_gemm(ty: GgmlType) -> Option<PanelGemm> {
    use GgmlType::*;
    if !has_panel_isa() {
        return None;
    }
    Some(match ty {
        Q8_0 => panel::<8, QK, false>(
            from_q8_0,
            |r, o| build::<BlockQ8_0, 8, 1>(r, o, |b, sm, q| legacy(b.d.to_f32(), 0.0, b.qs, sm, q)),
            Some(|w, x, o| rows::rows_by::<BlockQ8_0, QK, 1, false>(w, x, o, rows::row_q8_0)),
        ),
        Q4_0 => panel::<8, QK, false>(
            from_q8_0,
            |r, o| build::<BlockQ4_0, 8, 1>(r, o, |b, sm, q| legacy(b.d.to_f32(), 0.0, q4_0_values(b), sm, q)),
            Some(|w, x, o| rows::rows_by::<BlockQ4_0, QK, 1, false>(w, x, o, rows::row_q4_0)),
        ),
        Q5_0 => panel::<8, QK, false>(
            from_q8_0,
            |r, o| build::<BlockQ5_0, 8, 1>(r, o, |b, sm, q| legacy(b.d.to_f32(), 0.0, q5_0_values(b), sm, q)),
            Some(|w, x, o| rows::rows_by::<BlockQ5_0, QK, 1, false>(w, x, o, rows::row_q5_0)),
        ),
        // d·q + m: the offset is a negative min.
        Q4_1 => panel::<8, QK, true>(
            from_q8_1,
            |r, o| {
                build::<BlockQ4_1, 8, 1>(r, o, |b, sm, q| legacy(b.d.to_f32(), -b.m.to_f32(), q4_1_values(b), sm, q))
            },
            Some(|w, x, o| rows::rows_by::<BlockQ4_1, QK, 1, true>(w, x, o, rows::row_q4_1)),
        ),
        Q5_1 => panel::<8, QK, true>(
            from_q8_1,
            |r, o| {
                build::<BlockQ5_1, 8, 1>(r, o, |b, sm, q| legacy(b.d.to_f32(), -b.m.to_f32(), q5_1_values(b), sm, q))
            },
            Some(|w, x, o| rows::rows_by::<BlockQ5_1, QK, 1, true>(w, x, o, rows::row_q5_1)),
        ),
        Iq4Nl => panel::<8, QK, false>(
            from_q8_0,
            |r, o| {
                build::<BlockIq4Nl, 8, 1>(r, o, |b, sm, q| {
                    legacy(b.d.to_f32(), 0.0, codebook_values(&b.qs, &KVALUES_IQ4NL), sm, q)
                })
            },
            Some(|w, x, o| rows::rows_by::<BlockIq4Nl, QK, 1, false>(w, x, o, rows::row_iq4nl)),
        ),
        Mxfp4 => panel::<8, QK, false>(
            from_q8_0,
            |r, o| {
                build::<BlockMxfp4, 8, 1>(r, o, |b, sm, q| {
                    legacy(e8m0_to_f32_half(b.e), 0.0, codebook_values(&b.qs, &KVALUES_MXFP4), sm, q)
                })
            },
            Some(|w, x, o| rows::rows_by::<BlockMxfp4, QK, 1, false>(w, x, o, rows::row_mxfp4)),
        ),
        Iq4Xs => panel::<8, QK, false>(
            from_q8k::<QK>,
            |r, o| {
                build::<BlockIq4Xs, 8, 8>(r, o, |b, sm, q| {
                    for (ib, (sm, q)) in sm.iter_mut().zip(q.chunks_exact_mut(QK)).enumerate() {
                        *sm = (b.d.to_f32() * iq4xs_scale(b, ib) as f32, 0.0);
                        q.copy_from_slice(&iq4xs_sub(b, ib));
                    }
                })
            },
            Some(|w, x, o| rows::rows_by::<BlockIq4Xs, QK, 8, false>(w, x, o, rows::row_iq4xs)),
        ),
        Q2K => panel::<4, 16, true>(
            from_q8k::<16>,
            |r, o| build::<BlockQ2K, 4, 16>(r, o, |b, sm, q| decoded(&kquants::decode_q2k(b), sm, q)),
            None,
        ),
        Q3K => panel::<4, 16, false>(
            from_q8k::<16>,
            |r, o| build::<BlockQ3K, 4, 16>(r, o, |b, sm, q| decoded(&kquants::decode_q3k(b), sm, q)),
            None,
        ),
        Q4K => panel::<8, QK, true>(
            from_q8k::<QK>,
            |r, o| build::<BlockQ4K, 8, 8>(r, o, |b, sm, q| decoded(&kquants::decode_q4k(b), sm, q)),
            Some(|w, x, o| rows::rows_by::<BlockQ4K, QK, 8, true>(w, x, o, rows::row_q4k)),
        ),
        Q5K => panel::<8, QK, true>(
            from_q8k::<QK>,
            |r, o| build::<BlockQ5K, 8, 8>(r, o, |b, sm, q| decoded(&kquants::decode_q5k(b), sm, q)),
            None,
        ),
        Q6K => panel::<4, 16, false>(
            from_q8k::<16>,
            |r, o| build::<BlockQ6K, 4, 16>(r, o, |b, sm, q| decoded(&kquants::decode_q6k(b), sm, q)),
            Some(|w, x, o| rows::rows_by::<BlockQ6K, 16, 16, false>(w, x, o, rows::row_q6k)),
        ),
        _ => return None,
    })
}

/// The panel GEMM over sub-blocks of `L` weights (`G` groups of four), subtracting mins if
/// `MINS`, for activations prepared by `prepare_x` and panels built by `prepare_panel`.
fn panel<const G: usize, const L: usize, const MINS: bool>(
    prepare_x: PrepareFn,
    prepare_panel: fn(&[&[u8]], &mut [u8]) -> bool,
    rows: Option<PanelRowsFn>,
) -> PanelGemm {
    const { assert!(L == 4 * G) };
    PanelGemm {
        x_row_bytes: |n| n / L * size_of::<XSub<L>>(),
        prepare_x,
        panel_bytes: |n| n / L * size_of::<WSub<G>>(),
        prepare_panel,
        run: run::<G, L, MINS>,
        rows,
    }
}

/// An activation sub-block as the kernel reads it: its scale, its scale times the sum of its
/// quants (what the weights' mins multiply), -128 times that sum (the correction for the
/// weights' + 128), and the quants.
#[derive(Clone, Copy)]
#[repr(C)]
struct XSub<const L: usize> {
    d: f32,
    dsum: f32,
    minus_128_sum: i32,
    qs: [i8; L],
}

// SAFETY: four-byte fields then bytes, `L` a multiple of four (`panel`'s assertion): no padding,
// and any bit pattern is valid.
unsafe impl<const L: usize> Zeroable for XSub<L> {}
unsafe impl<const L: usize> Pod for XSub<L> {}

/// One sub-block column of a panel: the sixteen rows' scales and mins, and their quants + 128
/// interleaved four at a time (`qs[g][4·r + k]` is row r's quant 4·g + k).
#[derive(Clone, Copy)]
#[repr(C)]
struct WSub<const G: usize> {
    scale: [f32; PANEL_ROWS],
    min: [f32; PANEL_ROWS],
    qs: [[u8; 4 * PANEL_ROWS]; G],
}

// SAFETY: arrays of f32 and of u8 arrays whose sizes are multiples of four: no padding, and any
// bit pattern is valid.
unsafe impl<const G: usize> Zeroable for WSub<G> {}
unsafe impl<const G: usize> Pod for WSub<G> {}

/// A row quantized to blocks of `B` (each read as its scale and quants by `parts`), as
/// `XSub<L>`s into `out`; false where the lengths do not fit.
fn prepare_x<B: Pod, const L: usize>(x: &[u8], out: &mut [u8], parts: impl Fn(&B) -> (f32, &[i8])) -> bool {
    let (Ok(x), Ok(out)) = (bytemuck::try_cast_slice::<u8, B>(x), bytemuck::try_cast_slice_mut::<u8, XSub<L>>(out))
    else {
        return false;
    };
    let mut out = out.iter_mut();
    for b in x {
        let (d, qs) = parts(b);
        for qs in qs.chunks_exact(L) {
            let Some(o) = out.next() else { return false };
            let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
            o.d = d;
            o.dsum = d * sum as f32;
            o.minus_128_sum = -128 * sum;
            o.qs.copy_from_slice(qs);
        }
    }
    out.next().is_none()
}

fn from_q8_0(x: &[u8], out: &mut [u8]) -> bool {
    prepare_x::<BlockQ8_0, QK>(x, out, |b| (b.d.to_f32(), &b.qs))
}

/// Q8_1's `s` (d·Σq rounded to f16) is not used: the sum is taken again, exactly.
fn from_q8_1(x: &[u8], out: &mut [u8]) -> bool {
    prepare_x::<BlockQ8_1, QK>(x, out, |b| (b.d.to_f32(), &b.qs))
}

fn from_q8k<const L: usize>(x: &[u8], out: &mut [u8]) -> bool {
    prepare_x::<BlockQ8K, L>(x, out, |b| (b.scale(), &b.qs))
}

/// Interleaves up to `PANEL_ROWS` stored rows (blocks of `B`, each decoded by `decode` into
/// its `SUBS` sub-blocks' (scale, min) and signed quants) into `out`, a block column at a time;
/// missing rows at a matrix's end are zero (scale and min 0: they add nothing). False where the
/// lengths do not fit.
fn build<B: Pod, const G: usize, const SUBS: usize>(
    rows: &[&[u8]],
    out: &mut [u8],
    decode: impl Fn(&B, &mut [(f32, f32)], &mut [i8]),
) -> bool {
    const { assert!(SUBS * 4 * G <= QK_K) };
    let Ok(out) = bytemuck::try_cast_slice_mut::<u8, WSub<G>>(out) else { return false };
    if rows.len() > PANEL_ROWS {
        return false;
    }
    let mut blocks: [&[B]; PANEL_ROWS] = [&[]; PANEL_ROWS];
    for (b, row) in blocks.iter_mut().zip(rows) {
        match bytemuck::try_cast_slice::<u8, B>(row) {
            Ok(row) if row.len() * SUBS == out.len() => *b = row,
            _ => return false,
        }
    }
    let (mut sm, mut q) = ([[(0.0, 0.0); QK_K / 16]; PANEL_ROWS], [[0i8; QK_K]; PANEL_ROWS]);
    for (i, cols) in out.chunks_exact_mut(SUBS).enumerate() {
        for ((row, sm), q) in blocks[..rows.len()].iter().zip(&mut sm).zip(&mut q) {
            decode(&row[i], &mut sm[..SUBS], &mut q[..SUBS * 4 * G]);
        }
        for (s, col) in cols.iter_mut().enumerate() {
            for (r, sm) in sm.iter().enumerate() {
                (col.scale[r], col.min[r]) = sm[s];
            }
            for (g, group) in col.qs.iter_mut().enumerate() {
                let at = 4 * (G * s + g);
                for (four, q) in group.chunks_exact_mut(4).zip(&q) {
                    let word = u32::from_ne_bytes([q[at] as u8, q[at + 1] as u8, q[at + 2] as u8, q[at + 3] as u8]);
                    four.copy_from_slice(&(word ^ 0x8080_8080).to_ne_bytes());
                }
            }
        }
    }
    true
}

/// A legacy or codebook block's one sub-block: (scale, min) and its 32 signed values.
fn legacy(scale: f32, min: f32, values: [i8; QK], sm: &mut [(f32, f32)], q: &mut [i8]) {
    sm[0] = (scale, min);
    q.copy_from_slice(&values);
}

/// A K-quant block's sub-blocks: scale d·scale_s, min dmin·min_s, and its signed values.
fn decoded(d: &Decoded, sm: &mut [(f32, f32)], q: &mut [i8]) {
    for (s, sm) in sm.iter_mut().enumerate() {
        *sm = (d.d * d.scale[s] as f32, d.dmin * d.min[s] as f32);
    }
    q.copy_from_slice(&d.q);
}

/// `out[t][r]` = panel row r · activation row t, for every row of `x`.
fn run<const G: usize, const L: usize, const MINS: bool>(panel: &[u8], x: &[u8], out: &mut [PanelOut]) -> bool {
    let Ok(panel) = bytemuck::try_cast_slice::<u8, WSub<G>>(panel) else { return false };
    let Ok(x) = bytemuck::try_cast_slice::<u8, XSub<L>>(x) else { return false };
    if panel.is_empty() || x.len() != panel.len() * out.len() {
        return false;
    }
    let mut t = 0;
    while t < out.len() {
        // SAFETY: see the module's header; `has_panel_isa` was checked by `panel_gemm`, the only
        // way to this function, and `x` holds a row of the panel's sub-block count per output.
        t += unsafe {
            match out.len() - t {
                TOKENS.. => tokens::<TOKENS, G, L, MINS>(panel, x, t, out),
                4.. => tokens::<4, G, L, MINS>(panel, x, t, out),
                2.. => tokens::<2, G, L, MINS>(panel, x, t, out),
                _ => tokens::<1, G, L, MINS>(panel, x, t, out),
            }
        };
    }
    true
}

/// Tokens per pass over a panel: each has an integer and an f32 accumulator in registers.
const TOKENS: usize = 8;

/// `out[t]` for the `N` tokens from `t0`; returns `N`.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn tokens<const N: usize, const G: usize, const L: usize, const MINS: bool>(
    panel: &[WSub<G>],
    x: &[XSub<L>],
    t0: usize,
    out: &mut [PanelOut],
) -> usize {
    let n_subs = panel.len();
    let x = std::array::from_fn(|i| &x[(t0 + i) * n_subs..(t0 + i + 1) * n_subs]);
    for (o, acc) in out[t0..t0 + N].iter_mut().zip(pass::<N, G, L, MINS>(panel, x)) {
        _mm512_storeu_ps(o.as_mut_ptr(), acc);
    }
    N
}

/// The sixteen rows of `panel` against `N` activation rows, sub-block by sub-block.
#[inline]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn pass<const N: usize, const G: usize, const L: usize, const MINS: bool>(
    panel: &[WSub<G>],
    x: [&[XSub<L>]; N],
) -> [__m512; N] {
    let mut acc = [_mm512_setzero_ps(); N];
    for (s, ws) in panel.iter().enumerate() {
        let mut dot: [__m512i; N] = std::array::from_fn(|t| _mm512_set1_epi32(x[t][s].minus_128_sum));
        for (g, w) in ws.qs.iter().enumerate() {
            let w = _mm512_loadu_si512(w.as_ptr() as *const __m512i);
            for (d, x_t) in dot.iter_mut().zip(x) {
                let four = (x_t[s].qs.as_ptr().add(4 * g) as *const i32).read_unaligned();
                *d = _mm512_dpbusd_epi32(*d, w, _mm512_set1_epi32(four));
            }
        }
        let scale = _mm512_loadu_ps(ws.scale.as_ptr());
        for ((a, d), x_t) in acc.iter_mut().zip(dot).zip(x) {
            *a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(scale, _mm512_set1_ps(x_t[s].d)), *a);
        }
        if MINS {
            let min = _mm512_loadu_ps(ws.min.as_ptr());
            for (a, x_t) in acc.iter_mut().zip(x) {
                *a = _mm512_fnmadd_ps(min, _mm512_set1_ps(x_t[s].dsum), *a);
            }
        }
    }
    acc
}

//! The two ways the executor projects activations through a weight matrix: the integer
//! mat-vec (small passes: decode, of one sequence or several) and dequantize + matrix-unit GEMM
//! (prefill), and the converted inputs they read (`Operands`).

use std::rc::Rc;

use super::kernels::{split_k_extent, DecoderKernels, Gemm};
use super::weights::GpuMatrix;
use crate::backend::gpu::launchers::{
    dequant, gemm_f16, matvec, matvec_batch, matvec_multi, quantize_q8_1, to_f16, with_blocks,
};
use crate::backend::gpu::tuning::{multi_sizes, GemmShape};
use crate::backend::gpu::{
    f16, BlockQ8_1, DeviceBuffer, Gpu, GpuError, Kernels, LaunchError, StreamHandle, View, ViewMut,
};
use crate::backend::graph::Act;

/// Passes of up to this many tokens take the integer mat-vec, which reads each weight once for
/// several tokens (`matvec_batch`), rather than dequantizing every weight for the GEMM. Measured on an H200 at
/// 4096x4096 (bench-kernels): dequantization + GEMM take ~74 µs for any pass up to 64 tokens,
/// the batched mat-vec ~1.5 (Q4_0), 1.8 (Q4_K) and 2.4 (Q6_K) µs per token.
pub(super) const MATVEC_MAX_TOKENS: usize = 32;

/// An activation as a projection reads it: quantized to q8_1 (`xq`, the mat-vecs) or rounded to
/// f16 (`a16`, the GEMM), each with the activation and token count it holds, so that the
/// projections of one input (Q, K and V; gate and up) convert it once; and the GEMM's
/// dequantized weights. Every op that writes an activation must say so (`wrote`).
pub(super) struct Operands {
    pub xq: DeviceBuffer<BlockQ8_1>,
    xq_of: Option<(Act, usize)>,
    a16: DeviceBuffer<f16>,
    a16_of: Option<(Act, usize)>,
    w16: DeviceBuffer<f16>,
    split_k: SplitK,
}

/// The GEMM's split-K work buffers (`gemm_f16`'s `partials` and `counters`).
pub(super) struct SplitK {
    /// The sums of every split but the last, for the largest launch the GEMM may split.
    partials: DeviceBuffer<f32>,
    /// A count of arrived splits per tile: zero between launches (each launch leaves it so).
    counters: DeviceBuffer<u32>,
}

impl SplitK {
    /// Elements of `partials` and `counters` for GEMMs of up to `tokens` tokens and `max_rows`
    /// weight rows, split as `gemm` picks (by the catalog's extents).
    pub fn sizes(
        kernels: &Kernels,
        gemm: &Gemm,
        tokens: usize,
        max_rows: usize,
    ) -> Result<(usize, usize), LaunchError> {
        let extent = |param, splits, m, n| split_k_extent(kernels, param, splits, m, n);
        let mut partials = gemm.untuned_partials() as usize;
        for (shape, splits) in gemm.tuned_rows() {
            partials = partials.max(extent("partials", splits, shape.m.min(tokens as u64), shape.n)?);
        }
        Ok((partials, extent("counters", 1, tokens as u64, max_rows as u64)?))
    }

    pub fn new(gpu: &Rc<dyn Gpu>, (partials, counters): (usize, usize)) -> Result<Self, GpuError> {
        let mut counters = DeviceBuffer::uninit(gpu, counters)?;
        counters.fill_bytes(0)?;
        Ok(SplitK { partials: DeviceBuffer::uninit(gpu, partials)?, counters })
    }
}

impl Operands {
    /// Room for `tokens` rows of up to `max_cols`, and a dequantized matrix of `max_weights`.
    pub fn new(
        gpu: &Rc<dyn Gpu>,
        tokens: usize,
        max_cols: usize,
        max_weights: usize,
        split_k: SplitK,
    ) -> Result<Self, GpuError> {
        Ok(Operands {
            xq: DeviceBuffer::uninit(gpu, tokens * max_cols / 32)?,
            xq_of: None,
            a16: DeviceBuffer::uninit(gpu, tokens * max_cols)?,
            a16_of: None,
            w16: DeviceBuffer::uninit(gpu, max_weights)?,
            split_k,
        })
    }

    /// Forgets the conversions of `acts`, which an op is about to write.
    pub fn wrote(&mut self, acts: &[Act]) {
        for of in [&mut self.xq_of, &mut self.a16_of] {
            if of.is_some_and(|(a, _)| acts.contains(&a)) {
                *of = None;
            }
        }
    }

    /// Forgets every conversion (a new pass, or an activation written outside the ops).
    pub fn forget(&mut self) {
        (self.xq_of, self.a16_of) = (None, None);
    }

    /// `xq` holds the first `n` tokens of `x`, written by a kernel that fuses the quantization.
    pub fn quantized(&mut self, x: Act, n: usize) {
        self.xq_of = Some((x, n));
    }

    /// The first `n` tokens of `x` (its buffer `xv`, `cols` wide) quantized to q8_1 in `xq`,
    /// unless they already are.
    pub fn quantize(
        &mut self,
        kern: &DecoderKernels,
        s: StreamHandle,
        (x, xv): (Act, View<'_, f32>),
        cols: usize,
        n: usize,
    ) -> Result<(), LaunchError> {
        if self.xq_of != Some((x, n)) {
            let args = quantize_q8_1::Args { xq: self.xq.view_mut(), x: xv, n_cols: cols as i32, n_rows: n as i32 };
            kern.quantize.launch(s, args)?;
            self.xq_of = Some((x, n));
        }
        Ok(())
    }

    /// The first `n` tokens of `x` rounded to f16 in `a16`, unless they already are.
    fn round_to_f16(
        &mut self,
        kern: &DecoderKernels,
        s: StreamHandle,
        (x, xv): (Act, View<'_, f32>),
        cols: usize,
        n: usize,
    ) -> Result<(), LaunchError> {
        if self.a16_of != Some((x, n)) {
            kern.to_f16.launch(s, to_f16::Args { out: self.a16.view_mut(), x: xv, n: (n * cols) as i64 })?;
            self.a16_of = Some((x, n));
        }
        Ok(())
    }

    /// y = x Wᵀ for `n` tokens of `x` (the activation and its buffer): the integer mat-vec over x
    /// in q8_1 for small passes, else the matrix-unit GEMM.
    pub fn project(
        &mut self,
        kern: &DecoderKernels,
        s: StreamHandle,
        y: &mut DeviceBuffer<f32>,
        w: &GpuMatrix,
        x: (Act, View<'_, f32>),
        n: usize,
    ) -> Result<(), LaunchError> {
        if n <= MATVEC_MAX_TOKENS {
            self.quantize(kern, s, x, w.cols, n)?;
            return matvec(kern, s, y, w, &self.xq, n);
        }
        self.round_to_f16(kern, s, x, w.cols, n)?;
        self.gemm(kern, s, [y.view_mut(), ViewMut::empty(), ViewMut::empty()], &[w], n)
    }

    /// `ys[i]` = x W_iᵀ for `n` tokens and two or three matrices of one input (Q, K and V, the
    /// largest first) in one launch: for one token the mat-vec over them all (`matvec_multi`,
    /// whose matrices share a format), for a pass past `MATVEC_MAX_TOKENS` one GEMM over their
    /// concatenated weights. False, with at most the input's conversion launched, for the
    /// batched mat-vec's sizes, when the bundle lacks `matvec_multi`, or when the weights do not
    /// fit the GEMM's buffer: the caller then projects each matrix alone.
    pub fn project_together(
        &mut self,
        kern: &DecoderKernels,
        s: StreamHandle,
        ys: [ViewMut<'_, f32>; 3],
        ws: &[&GpuMatrix],
        x: (Act, View<'_, f32>),
        n: usize,
    ) -> Result<bool, LaunchError> {
        let cols = ws[0].cols;
        if n == 1 {
            self.quantize(kern, s, x, cols, 1)?;
            return matvec_multi(kern, s, ys, ws, self.xq.slice(0..cols / 32));
        }
        if n <= MATVEC_MAX_TOKENS || ws.iter().map(|w| w.rows * w.cols).sum::<usize>() > self.w16.len() {
            return Ok(false);
        }
        self.round_to_f16(kern, s, x, cols, n)?;
        self.gemm(kern, s, ys, ws, n)?;
        Ok(true)
    }

    /// ys[i] = x W_iᵀ for the first `n` tokens of x in `a16` and up to three matrices of as
    /// many columns (`ys` past them empty): the matrices dequantized to f16 one after the other
    /// in `w16`, then one matrix-unit GEMM whose columns are cut into the outputs, its K split
    /// as the tuning table says for these sizes.
    fn gemm(
        &mut self,
        kern: &DecoderKernels,
        s: StreamHandle,
        [c, c_b, c_c]: [ViewMut<'_, f32>; 3],
        ws: &[&GpuMatrix],
        n: usize,
    ) -> Result<(), LaunchError> {
        let mut at = 0;
        for w in ws {
            let len = w.rows * w.cols;
            let (out, n_sub) = (self.w16.slice_mut(at..at + len), (len / 32) as i64);
            with_blocks!(&w.blocks, |b| kern.dequant.get()?.launch(s, dequant::Args { out, w: b.view(), n_sub }))?;
            at += len;
        }
        let rows = |i: usize| ws.get(i).map_or(0, |w| w.rows as i32);
        let (m, k) = (n as i32, ws[0].cols as i32);
        let (n, n_b, n_c) = (rows(0) + rows(1) + rows(2), rows(1), rows(2));
        let kernel = kern.gemm.get(GemmShape { m: m as u64, n: n as u64, k: k as u64 });
        let (partials, counters) = (self.split_k.partials.view_mut(), self.split_k.counters.view_mut());
        let (a, w) = (self.a16.view(), self.w16.view());
        kernel.launch(s, gemm_f16::Args { c, c_b, c_c, a, w, partials, counters, m, n, k, n_b, n_c })
    }
}

/// ys[i] = W_i·x for up to three matrices of one format (the largest first; `ys` past them
/// empty) in one launch; false when the bundle lacks the kernel.
fn matvec_multi(
    kern: &DecoderKernels,
    s: StreamHandle,
    [y_a, y_b, y_c]: [ViewMut<'_, f32>; 3],
    ws: &[&GpuMatrix],
    xq: View<'_, BlockQ8_1>,
) -> Result<bool, LaunchError> {
    let rows = |i: usize| ws.get(i).map_or(0, |w| w.rows as i32);
    let (n_cols, rows_a, rows_b, rows_c) = (ws[0].cols as i32, rows(0), rows(1), rows(2));
    with_blocks!(&ws[0].blocks, |a| {
        let w = |i: usize| ws.get(i).and_then(|m| m.blocks.typed()).map_or_else(View::empty, |b| b.view());
        let sizes = multi_sizes([rows_a, rows_b, rows_c].map(|r| r as u64), n_cols as u64);
        let Ok(multi) = kern.matvec_multi.get(ws[0].blocks.quant(), &sizes).get() else { return Ok(false) };
        let (w_a, w_b, w_c) = (a.view(), w(1), w(2));
        multi.launch(s, matvec_multi::Args { y_a, y_b, y_c, w_a, w_b, w_c, xq, n_cols, rows_a, rows_b, rows_c })?;
        Ok(true)
    })
}

/// y[t] = W·x[t] for `n` tokens, with x quantized to q8_1 in `xq`: the integer mat-vec, its
/// batched form for more than one token.
fn matvec(
    kern: &DecoderKernels,
    s: StreamHandle,
    y: &mut DeviceBuffer<f32>,
    w: &GpuMatrix,
    xq: &DeviceBuffer<BlockQ8_1>,
    n: usize,
) -> Result<(), LaunchError> {
    let (n_cols, n_rows) = (w.cols as i32, w.rows as i32);
    let (y, xq) = (y.slice_mut(0..n * w.rows), xq.slice(0..n * w.cols / 32));
    with_blocks!(&w.blocks, |b| if n == 1 {
        kern.matvec.for_matrix(w.shape()).get()?.launch(s, matvec::Args { y, w: b.view(), xq, n_cols, n_rows })
    } else {
        let args = matvec_batch::Args { y, w: b.view(), xq, n_cols, n_rows, n_tokens: n as i32 };
        kern.matvec_batch.get()?.launch(s, args)
    })
}

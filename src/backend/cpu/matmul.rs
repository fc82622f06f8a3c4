//! Quantized matrix × activations on the CPU, the way ggml does it: the activations are
//! quantized once to the weight type's dot-product partner (Q8_0, Q8_1, Q8_K, f16 …) and every
//! output is one `vec_dot` over a weight row that stays in the memory map.

use rayon::prelude::*;

use crate::gguf::GgmlType;
use crate::quant::{self, QuantError, RowPlan, RowsDotFn, VecDot4Fn, VecDotFn};

/// A weight matrix ready to multiply: `rows` rows of `cols` elements of type `ty`.
#[derive(Clone, Copy)]
pub struct QMatrix<'a> {
    pub ty: GgmlType,
    pub data: &'a [u8],
    pub rows: usize,
    pub cols: usize,
}

/// Reusable buffers, so steady-state decoding allocates nothing.
#[derive(Default)]
pub struct MatmulScratch {
    quantized: Vec<u8>,
    transposed: Vec<f32>,
}

/// out[t][r] = Σ_c w[r][c] · x[t][c] for `n_tokens` rows of `x` (each `cols` long).
pub fn matmul(
    w: QMatrix,
    x: &[f32],
    n_tokens: usize,
    out: &mut [f32],
    scratch: &mut MatmulScratch,
) -> Result<(), QuantError> {
    debug_assert_eq!(x.len(), n_tokens * w.cols);
    debug_assert_eq!(out.len(), n_tokens * w.rows);
    let dot_ty = quant::vec_dot_type(w.ty)?;
    let plan = quant::row_plan(w.ty, n_tokens)?;
    // Batches widen Q4_0/Q5_0 rows to Q8_0 once per row (the same sums, bit for bit).
    let widened = n_tokens > 1 && matches!(w.ty, GgmlType::Q4_0 | GgmlType::Q5_0);
    let row_ty = if widened { GgmlType::Q8_0 } else { w.ty };
    let single = if widened { quant::vec_dot_fn(row_ty)? } else { plan.tail };
    let dot4 = if n_tokens >= 4 { quant::vec_dot4_fn(row_ty) } else { None };
    let rows_dot = if n_tokens == 1 { quant::rows_dot_fn(w.ty) } else { None };
    let x_row_bytes = row_bytes(dot_ty, w.cols)?;
    let w_row_bytes = row_bytes(w.ty, w.cols)?;

    scratch.quantized.resize(n_tokens * x_row_bytes, 0);
    scratch
        .quantized
        .par_chunks_mut(x_row_bytes)
        .zip(x.par_chunks(w.cols))
        .try_for_each(|(q, xr)| quant::quantize_row(dot_ty, xr, q))?;
    let xq = &scratch.quantized[..];

    let kernel = RowKernel { w, w_row_bytes, xq, x_row_bytes, n_tokens, plan, widened, single, dot4, rows_dot };
    let rows_per_task = rows_per_task(w.rows);
    if n_tokens == 1 {
        out.par_chunks_mut(rows_per_task).enumerate().for_each(|(i, chunk)| kernel.rows_into(i * rows_per_task, chunk));
    } else {
        // Computed as [row][token] so each task owns a contiguous slice, then transposed.
        scratch.transposed.resize(w.rows * n_tokens, 0.0);
        scratch
            .transposed
            .par_chunks_mut(rows_per_task * n_tokens)
            .enumerate()
            .for_each(|(i, chunk)| kernel.rows_into(i * rows_per_task, chunk));
        for (r, col) in scratch.transposed.chunks_exact(n_tokens).enumerate() {
            for (t, &v) in col.iter().enumerate() {
                out[t * w.rows + r] = v;
            }
        }
    }
    Ok(())
}

struct RowKernel<'a> {
    w: QMatrix<'a>,
    w_row_bytes: usize,
    xq: &'a [u8],
    x_row_bytes: usize,
    n_tokens: usize,
    /// Tokens `0..plan.bulk_rows` take `plan.bulk`; the others the single-row kernel.
    plan: RowPlan,
    /// Rows are widened to Q8_0 first (Q4_0/Q5_0 batches).
    widened: bool,
    /// The single-row kernel for the rows as swept (widened or not).
    single: VecDotFn,
    /// `single` against four tokens at a time.
    dot4: Option<VecDot4Fn>,
    /// `single` over many rows per call (decode).
    rows_dot: Option<RowsDotFn>,
}

impl RowKernel<'_> {
    /// Fills `out` ([row][token]) for the rows starting at `first_row`. Each weight row is
    /// swept across all tokens while it sits in L1 (the activations stay in L2).
    fn rows_into(&self, first_row: usize, out: &mut [f32]) {
        let (n, rb) = (self.n_tokens, self.w_row_bytes);
        if let Some(rows_dot) = self.rows_dot {
            if rows_dot(&self.w.data[first_row * rb..(first_row + out.len()) * rb], self.xq, out) {
                return;
            }
        }
        let x_row = |t: usize| &self.xq[t * self.x_row_bytes..(t + 1) * self.x_row_bytes];
        let mut wide = Vec::new();
        for (r, out_r) in out.chunks_exact_mut(n).enumerate() {
            let row = first_row + r;
            let mut w_row = &self.w.data[row * rb..(row + 1) * rb];
            let (mut single, mut dot4) = (self.plan.tail, None);
            if !self.widened || quant::widen_to_q8_0(self.w.ty, w_row, &mut wide).unwrap_or(false) {
                (single, dot4) = (self.single, self.dot4);
                if self.widened {
                    w_row = &wide;
                }
            }
            let bulk = self.plan.bulk_rows;
            let t = fours(self.plan.bulk4, w_row, 0..bulk, &x_row, out_r);
            for (t, o) in out_r.iter_mut().enumerate().take(bulk).skip(t) {
                *o = (self.plan.bulk)(self.w.cols, w_row, x_row(t));
            }
            let t = fours(dot4, w_row, bulk..n, &x_row, out_r);
            for (t, o) in out_r.iter_mut().enumerate().skip(t) {
                *o = single(self.w.cols, w_row, x_row(t));
            }
        }
    }
}

/// Fills `out[t]` for the tokens of `tokens` four at a time with `dot4`, while four remain
/// (and the kernel takes them); returns the first token left to do.
fn fours<'x>(
    dot4: Option<VecDot4Fn>,
    w_row: &[u8],
    tokens: std::ops::Range<usize>,
    x_row: &impl Fn(usize) -> &'x [u8],
    out: &mut [f32],
) -> usize {
    let mut t = tokens.start;
    if let Some(dot4) = dot4 {
        while t + 4 <= tokens.end {
            let Some(v) = dot4(w_row, [x_row(t), x_row(t + 1), x_row(t + 2), x_row(t + 3)]) else { break };
            out[t..t + 4].copy_from_slice(&v);
            t += 4;
        }
    }
    t
}

fn row_bytes(ty: GgmlType, cols: usize) -> Result<usize, QuantError> {
    ty.bytes_for(cols as u64).map(|b| b as usize).ok_or(QuantError::BadLength {
        ty,
        what: "row",
        expected: ty.block_len(),
        got: cols,
    })
}

/// Enough tasks for rayon to balance threads, few enough that each amortises its overhead.
fn rows_per_task(rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    (rows / (threads * 8)).clamp(16, 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every weight type against an f32 reference built from its own dequantization.
    #[test]
    fn matmul_matches_dequantized_reference() {
        let (rows, cols) = (37, 512);
        for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0] {
            let wf: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.2).collect();
            let mut wq = vec![0u8; ty.bytes_for((rows * cols) as u64).unwrap() as usize];
            quant::quantize_row(ty, &wf, &mut wq).unwrap();
            let mut wd = vec![0.0; rows * cols];
            quant::dequantize_row(ty, &wq, &mut wd).unwrap();
            for n_tokens in [1, 3, 33] {
                let x: Vec<f32> = (0..n_tokens * cols).map(|i| ((i * 104729 % 997) as f32 / 997.0) - 0.45).collect();
                let mut out = vec![f32::NAN; n_tokens * rows];
                let w = QMatrix { ty, data: &wq, rows, cols };
                matmul(w, &x, n_tokens, &mut out, &mut MatmulScratch::default()).unwrap();
                let mut num = 0.0f64;
                let mut den = 0.0f64;
                for t in 0..n_tokens {
                    for r in 0..rows {
                        let want: f64 = (0..cols).map(|c| wd[r * cols + c] as f64 * x[t * cols + c] as f64).sum();
                        num += (out[t * rows + r] as f64 - want).powi(2);
                        den += want * want;
                    }
                }
                let rel = (num / den).sqrt();
                assert!(rel < 1e-2, "{ty} n_tokens={n_tokens}: relative error {rel}");
            }
        }
    }
}

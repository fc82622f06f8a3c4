//! Quantized matrix × activations on the CPU, the way ggml does it: the activations are
//! quantized once to the weight type's dot-product partner (Q8_0, Q8_1, Q8_K, f16 …) and every
//! output is one `vec_dot` over a weight row that stays in the memory map.

use rayon::prelude::*;

use crate::gguf::GgmlType;
use crate::quant::{self, QuantError, RowPlan, VecDotFn};

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
    let widened_dot = match (n_tokens > 1, w.ty) {
        (true, GgmlType::Q4_0 | GgmlType::Q5_0) => Some(quant::vec_dot_fn(GgmlType::Q8_0)?),
        _ => None,
    };
    let q8_dot4 = match (n_tokens >= 4, w.ty) {
        (true, GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0) => quad_kernel(),
        _ => None,
    };
    let x_row_bytes = row_bytes(dot_ty, w.cols)?;
    let w_row_bytes = row_bytes(w.ty, w.cols)?;

    scratch.quantized.resize(n_tokens * x_row_bytes, 0);
    scratch
        .quantized
        .par_chunks_mut(x_row_bytes)
        .zip(x.par_chunks(w.cols))
        .try_for_each(|(q, xr)| quant::quantize_row(dot_ty, xr, q))?;
    let xq = &scratch.quantized[..];

    let kernel = RowKernel { w, w_row_bytes, xq, x_row_bytes, n_tokens, plan, widened_dot, q8_dot4 };
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
    plan: RowPlan,
    /// For Q4_0/Q5_0 batches: rows are widened to Q8_0 once and multiplied with this.
    widened_dot: Option<VecDotFn>,
    /// Q8_0 (or widened) rows against four tokens at a time.
    q8_dot4: Option<QuadDot>,
}

#[cfg(target_arch = "x86_64")]
type QuadDot = quant::VecDot4Fn;
#[cfg(not(target_arch = "x86_64"))]
type QuadDot = fn(&[u8], [&[u8]; 4]) -> Option<[f32; 4]>;

fn quad_kernel() -> Option<QuadDot> {
    #[cfg(target_arch = "x86_64")]
    return quant::vec_dot4_q8_0();
    #[cfg(not(target_arch = "x86_64"))]
    None
}

impl RowKernel<'_> {
    /// Fills `out` ([row][token]) for the rows starting at `first_row`. Each weight row is
    /// swept across all tokens while it sits in L1 (the activations stay in L2).
    fn rows_into(&self, first_row: usize, out: &mut [f32]) {
        let n = self.n_tokens;
        let x_row = |t: usize| &self.xq[t * self.x_row_bytes..(t + 1) * self.x_row_bytes];
        let mut wide = Vec::new();
        for (r, out_r) in out.chunks_exact_mut(n).enumerate() {
            let row = first_row + r;
            let mut w_row = &self.w.data[row * self.w_row_bytes..(row + 1) * self.w_row_bytes];
            let mut widened = None;
            if let Some(dot) = self.widened_dot {
                if quant::widen_to_q8_0(self.w.ty, w_row, &mut wide).unwrap_or(false) {
                    w_row = &wide;
                    widened = Some(dot);
                }
            }
            let mut t = 0;
            if let (Some(quad), true) = (self.q8_dot4, widened.is_some() || self.w.ty == GgmlType::Q8_0) {
                while t + 4 <= n {
                    let Some(v) = quad(w_row, [x_row(t), x_row(t + 1), x_row(t + 2), x_row(t + 3)]) else { break };
                    out_r[t..t + 4].copy_from_slice(&v);
                    t += 4;
                }
            }
            for (t, o) in out_r.iter_mut().enumerate().skip(t) {
                let dot = widened.unwrap_or(if t < self.plan.bulk_rows { self.plan.bulk } else { self.plan.tail });
                *o = dot(self.w.cols, w_row, x_row(t));
            }
        }
    }
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

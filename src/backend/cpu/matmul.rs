//! Quantized matrix × activations on the CPU, the way ggml does it: the activations are
//! quantized once to the weight type's dot-product partner (Q8_0, Q8_1, Q8_K, f16 …) and every
//! output is one `vec_dot` over a weight row that stays in the memory map.

use super::{pool, SumOrder};
use crate::gguf::GgmlType;
use crate::quant::{
    self, PanelGemm, PanelOut, PanelRowsFn, PrepareFn, QuantError, RowPlan, RowsDotFn, VecDotFn, VecDotTileFn,
    PANEL_ROWS, TILE_ROWS, TILE_TOKENS,
};

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
    /// The activations as the tile kernel reads them, where it prepares them (`PreparedTile`).
    prepared: Vec<u8>,
    transposed: Vec<f32>,
    /// A panel GEMM's results, `[panel][token][row in panel]`.
    panels: Vec<PanelOut>,
}

/// out[t][r] = Σ_c w[r][c] · x[t][c] for `n_tokens` rows of `x` (each `cols` long), summed in
/// `order`. Formats with a panel GEMM on this CPU take it for batches of `PANEL_MIN_TOKENS` or
/// more; in `SumOrder::BatchInvariant` for every batch, smaller ones through its row kernel one
/// token at a time, so that a token's sums are its own whatever it is batched with.
pub fn matmul(
    w: QMatrix,
    x: &[f32],
    n_tokens: usize,
    order: SumOrder,
    out: &mut [f32],
    scratch: &mut MatmulScratch,
) -> Result<(), QuantError> {
    debug_assert_eq!(x.len(), n_tokens * w.cols);
    debug_assert_eq!(out.len(), n_tokens * w.rows);
    let dot_ty = quant::vec_dot_type(w.ty)?;
    let x_row_bytes = row_bytes(dot_ty, w.cols)?;
    scratch.quantized.resize(n_tokens * x_row_bytes, 0);
    pool::try_for_each_chunk_mut(&mut scratch.quantized, x_row_bytes, |t, q| {
        quant::quantize_row(dot_ty, &x[t * w.cols..(t + 1) * w.cols], q)
    })?;
    // The panel's sums: every batch from PANEL_MIN_TOKENS on, and every batch in
    // batch-invariant order (smaller ones through its row kernel, where the format has one).
    let panel =
        quant::panel_gemm_fn(w.ty).filter(|_| n_tokens >= PANEL_MIN_TOKENS || order == SumOrder::BatchInvariant);
    if let Some(p) = panel {
        prepare_panel_x(p, w.cols, dot_ty, n_tokens, scratch)?;
        return match p.rows {
            Some(rows) if n_tokens < PANEL_MIN_TOKENS => panel_rows_matmul(rows, w, n_tokens, out, scratch),
            _ => panel_matmul(p, w, n_tokens, out, scratch),
        };
    }

    // A plan for one token has no batch kernel: every token takes the single-token sums (the
    // tile and many-row kernels below give those bit for bit).
    let plan_tokens = if order == SumOrder::BatchInvariant { 1 } else { n_tokens };
    let plan = quant::row_plan(w.ty, plan_tokens)?;
    // Batches widen Q4_0/Q5_0 rows to Q8_0 once per row (the same sums, bit for bit).
    let widened = n_tokens > 1 && matches!(w.ty, GgmlType::Q4_0 | GgmlType::Q5_0);
    let row_ty = if widened { GgmlType::Q8_0 } else { w.ty };
    let single = if widened { quant::vec_dot_fn(row_ty)? } else { plan.tail };
    let prepared = if n_tokens >= TILE_TOKENS { quant::prepared_tile_fn(row_ty) } else { None };
    let tile = match prepared {
        Some(p) => Some(p.tile),
        None => (n_tokens >= TILE_TOKENS).then(|| quant::vec_dot_tile_fn(row_ty)).flatten(),
    };
    let rows_dot = if n_tokens == 1 { quant::rows_dot_fn(w.ty) } else { None };
    let w_row_bytes = row_bytes(w.ty, w.cols)?;
    let xq = &scratch.quantized[..];
    // The tile's activation rows: prepared once here where its kernel wants them so.
    let (tile_xq, tile_x_row_bytes) = match prepared {
        Some(p) => {
            let bytes = (p.row_bytes)(w.cols);
            prepare_rows(p.prepare, dot_ty, xq, n_tokens, bytes, &mut scratch.prepared)?;
            (&scratch.prepared[..], bytes)
        }
        None => (xq, x_row_bytes),
    };

    let kernel = RowKernel {
        w,
        w_row_bytes,
        xq,
        x_row_bytes,
        tile_xq,
        tile_x_row_bytes,
        n_tokens,
        plan,
        widened,
        single,
        tile,
        prepared_w: prepared.map(|p| (p.prepare_w, (p.w_row_bytes)(w.cols))),
        rows_dot,
    };
    let rows_per_task = rows_per_task(w.rows);
    if n_tokens == 1 {
        pool::for_each_chunk_mut(out, rows_per_task, |i, chunk| kernel.rows_into(i * rows_per_task, chunk));
    } else {
        // Computed as [row][token] so each task owns a contiguous slice, then transposed.
        scratch.transposed.resize(w.rows * n_tokens, 0.0);
        pool::for_each_chunk_mut(&mut scratch.transposed, rows_per_task * n_tokens, |i, chunk| {
            kernel.rows_into(i * rows_per_task, chunk)
        });
        transpose_into(&scratch.transposed, n_tokens, w.rows, out);
    }
    Ok(())
}

/// Batches from this many tokens take the panel GEMM where there is one: below, rebuilding
/// each panel costs more than it saves.
const PANEL_MIN_TOKENS: usize = 8;

/// The activations quantized into `scratch.quantized`, rewritten for the panel kernels into
/// `scratch.prepared`.
fn prepare_panel_x(
    p: PanelGemm,
    cols: usize,
    dot_ty: GgmlType,
    n_tokens: usize,
    scratch: &mut MatmulScratch,
) -> Result<(), QuantError> {
    prepare_rows(p.prepare_x, dot_ty, &scratch.quantized, n_tokens, (p.x_row_bytes)(cols), &mut scratch.prepared)
}

/// The `n_tokens` rows of quantized activations `xq` rewritten by `prepare` into rows of
/// `out_bytes` in `out`, in parallel.
fn prepare_rows(
    prepare: PrepareFn,
    dot_ty: GgmlType,
    xq: &[u8],
    n_tokens: usize,
    out_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<(), QuantError> {
    let x_bytes = xq.len() / n_tokens;
    out.resize(n_tokens * out_bytes, 0);
    pool::try_for_each_chunk_mut(out, out_bytes, |t, row| {
        prepare(&xq[t * x_bytes..(t + 1) * x_bytes], row).then_some(()).ok_or(QuantError::BadLength {
            ty: dot_ty,
            what: "activation row",
            expected: out_bytes,
            got: x_bytes,
        })
    })
}

/// `matmul` one token at a time through a panel GEMM's row kernel (`PanelGemm::rows`), on
/// activations prepared by `prepare_panel_x`: each task's rows straight from the map.
fn panel_rows_matmul(
    rows: PanelRowsFn,
    w: QMatrix,
    n_tokens: usize,
    out: &mut [f32],
    scratch: &mut MatmulScratch,
) -> Result<(), QuantError> {
    let w_row_bytes = row_bytes(w.ty, w.cols)?;
    // Whole groups of sixteen rows per task: the kernel takes its rows sixteen at a time.
    let per_task = rows_per_task(w.rows).next_multiple_of(PANEL_ROWS);
    let x_bytes = scratch.prepared.len() / n_tokens;
    for (x, out) in scratch.prepared.chunks_exact(x_bytes).zip(out.chunks_exact_mut(w.rows)) {
        pool::try_for_each_chunk_mut(out, per_task, |i, chunk| {
            let first = i * per_task * w_row_bytes;
            if rows(&w.data[first..first + chunk.len() * w_row_bytes], x, chunk) {
                Ok(())
            } else {
                Err(QuantError::BadLength { ty: w.ty, what: "row", expected: w_row_bytes, got: w.data.len() })
            }
        })?;
    }
    Ok(())
}

/// `matmul` through a panel GEMM, on activations prepared by `prepare_panel_x`: each task
/// rebuilds its panels of weight rows and writes `[panel][token][row in panel]`, which is then
/// copied out a panel row (64 contiguous bytes) at a time.
fn panel_matmul(
    p: PanelGemm,
    w: QMatrix,
    n_tokens: usize,
    out: &mut [f32],
    scratch: &mut MatmulScratch,
) -> Result<(), QuantError> {
    let x = &scratch.prepared[..];
    let w_row_bytes = row_bytes(w.ty, w.cols)?;
    let n_panels = w.rows.div_ceil(PANEL_ROWS);
    let panels_per_task = rows_per_task(w.rows).div_ceil(PANEL_ROWS);
    scratch.panels.resize(n_panels * n_tokens, [0.0; PANEL_ROWS]);
    pool::try_for_each_chunk_mut(&mut scratch.panels, panels_per_task * n_tokens, |i, task| {
        let mut panel = vec![0u8; (p.panel_bytes)(w.cols)];
        for (j, results) in task.chunks_mut(n_tokens).enumerate() {
            let first = (i * panels_per_task + j) * PANEL_ROWS;
            let n_rows = PANEL_ROWS.min(w.rows - first);
            let stored = &w.data[first * w_row_bytes..(first + n_rows) * w_row_bytes];
            let mut rows = [&[][..]; PANEL_ROWS];
            for (slot, row) in rows.iter_mut().zip(stored.chunks_exact(w_row_bytes)) {
                *slot = row;
            }
            if !(p.prepare_panel)(&rows[..n_rows], &mut panel) || !(p.run)(&panel, x, results) {
                return Err(QuantError::BadLength { ty: w.ty, what: "row", expected: w_row_bytes, got: w.data.len() });
            }
        }
        Ok(())
    })?;
    let panels = &scratch.panels;
    pool::for_each_chunk_mut(out, w.rows, |t, out_t| {
        for (j, chunk) in out_t.chunks_mut(PANEL_ROWS).enumerate() {
            chunk.copy_from_slice(&panels[j * n_tokens + t][..chunk.len()]);
        }
    });
    Ok(())
}

/// Tokens a transpose task takes: its reads of each row's results are then 64 contiguous bytes.
const TRANSPOSE_TOKENS: usize = 16;

/// `out[t][r] = by_row[r][t]`, in parallel over groups of tokens (a serial transpose was 7 % of
/// a small model's prefill on 2 threads).
fn transpose_into(by_row: &[f32], n_tokens: usize, rows: usize, out: &mut [f32]) {
    pool::for_each_chunk_mut(out, rows * TRANSPOSE_TOKENS, |g, group| {
        let t0 = g * TRANSPOSE_TOKENS;
        let tokens = group.len() / rows;
        for (r, col) in by_row.chunks_exact(n_tokens).enumerate() {
            for (t, &v) in col[t0..t0 + tokens].iter().enumerate() {
                group[t * rows + r] = v;
            }
        }
    });
}

struct RowKernel<'a> {
    w: QMatrix<'a>,
    w_row_bytes: usize,
    xq: &'a [u8],
    x_row_bytes: usize,
    /// The activation rows `tile` reads: `xq`, or `xq` prepared for it.
    tile_xq: &'a [u8],
    tile_x_row_bytes: usize,
    n_tokens: usize,
    /// Tokens `0..plan.bulk_rows` take `plan.bulk`; the others the single-row kernel.
    plan: RowPlan,
    /// Rows are widened to Q8_0 first (Q4_0/Q5_0 batches).
    widened: bool,
    /// The single-row kernel for the rows as swept (widened or not).
    single: VecDotFn,
    /// `single` over a tile of rows and tokens.
    tile: Option<VecDotTileFn>,
    /// How `tile` wants each swept weight row rewritten (once per row and batch), and the bytes
    /// that takes: a prepared tile's `prepare_w`.
    prepared_w: Option<(PrepareFn, usize)>,
    /// `single` over many rows per call (decode).
    rows_dot: Option<RowsDotFn>,
}

impl RowKernel<'_> {
    /// Fills `out` ([row][token]) for the rows starting at `first_row`. Rows are swept in
    /// pairs (a tile's rows) across all tokens while they sit in L1 (the activations stay in
    /// L2).
    fn rows_into(&self, first_row: usize, out: &mut [f32]) {
        let (n, rb) = (self.n_tokens, self.w_row_bytes);
        if let Some(rows_dot) = self.rows_dot {
            if rows_dot(&self.w.data[first_row * rb..(first_row + out.len()) * rb], self.xq, out) {
                return;
            }
        }
        let mut wide = [Vec::new(), Vec::new()];
        let mut prepared = [Vec::new(), Vec::new()];
        let mut spare = vec![0.0; n];
        for (p, out_p) in out.chunks_mut(TILE_ROWS * n).enumerate() {
            let row = first_row + TILE_ROWS * p;
            let [wa, wb] = &mut wide;
            // An odd last row is its own pair; its second results go to `spare`.
            let last = row + out_p.len() / n - 1;
            let (a, b) = (self.swept_row(row, wa), self.swept_row(last, wb));
            let (out_a, out_b) = out_p.split_at_mut(n);
            let out_b = if out_b.is_empty() { &mut spare[..] } else { out_b };
            match (a, b) {
                (Some(a), Some(b)) => {
                    let tile_rows = self.tile_rows([a, b], &mut prepared);
                    self.pair_into([a, b], tile_rows, [out_a, out_b])
                }
                // A row that did not widen (malformed): the single-row kernel as it is stored.
                _ => {
                    let raw = |r: usize| &self.w.data[r * rb..(r + 1) * rb];
                    for (r, o) in [(row, out_a), (last, out_b)] {
                        for (t, o) in o.iter_mut().enumerate() {
                            *o = (self.plan.tail)(self.w.cols, raw(r), self.x_row(t));
                        }
                    }
                }
            }
        }
    }

    fn x_row(&self, t: usize) -> &[u8] {
        &self.xq[t * self.x_row_bytes..(t + 1) * self.x_row_bytes]
    }

    fn tile_x_row(&self, t: usize) -> &[u8] {
        &self.tile_xq[t * self.tile_x_row_bytes..(t + 1) * self.tile_x_row_bytes]
    }

    /// Weight row `row` as the kernels take it: widened to Q8_0 into `wide` where the batch
    /// widens; `None` if it would not widen.
    fn swept_row<'w>(&'w self, row: usize, wide: &'w mut Vec<u8>) -> Option<&'w [u8]> {
        let stored = &self.w.data[row * self.w_row_bytes..(row + 1) * self.w_row_bytes];
        if !self.widened {
            return Some(stored);
        }
        quant::widen_to_q8_0(self.w.ty, stored, wide).unwrap_or(false).then_some(&wide[..])
    }

    /// The swept rows `w` as `tile` reads them: prepared into `bufs` where it wants them so;
    /// `None` (no tile for these rows) where they would not prepare.
    fn tile_rows<'w>(
        &self,
        w: [&'w [u8]; TILE_ROWS],
        bufs: &'w mut [Vec<u8>; TILE_ROWS],
    ) -> Option<[&'w [u8]; TILE_ROWS]> {
        let Some((prepare, bytes)) = self.prepared_w else { return Some(w) };
        let [a, b] = bufs;
        for (buf, row) in [&mut *a, &mut *b].into_iter().zip(w) {
            buf.resize(bytes, 0);
            if !prepare(row, buf) {
                return None;
            }
        }
        Some([&a[..], &b[..]])
    }

    /// Both rows' results for every token: the batch kernel for tokens below
    /// `plan.bulk_rows`, the single-row kernel above, a tile of tokens at a time while a whole
    /// tile remains (`tile_w`: the rows as `tile` reads them, if it can).
    fn pair_into(
        &self,
        w: [&[u8]; TILE_ROWS],
        tile_w: Option<[&[u8]; TILE_ROWS]>,
        [out_a, out_b]: [&mut [f32]; TILE_ROWS],
    ) {
        let (n, bulk) = (self.n_tokens, self.plan.bulk_rows);
        let runs = [
            (true, 0..bulk, self.plan.bulk_tile, w, self.plan.bulk),
            (false, bulk..n, self.tile.filter(|_| tile_w.is_some()), tile_w.unwrap_or(w), self.single),
        ];
        for (is_bulk, tokens, tile, tile_w, dot) in runs {
            let mut t = tokens.start;
            while let (Some(tile), true) = (tile, t + TILE_TOKENS <= tokens.end) {
                let x = |k: usize| if is_bulk { self.x_row(t + k) } else { self.tile_x_row(t + k) };
                let Some(v) = tile(tile_w, std::array::from_fn(x)) else { break };
                out_a[t..t + TILE_TOKENS].copy_from_slice(&v[0]);
                out_b[t..t + TILE_TOKENS].copy_from_slice(&v[1]);
                t += TILE_TOKENS;
            }
            for t in t..tokens.end {
                out_a[t] = dot(self.w.cols, w[0], self.x_row(t));
                out_b[t] = dot(self.w.cols, w[1], self.x_row(t));
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

/// Enough tasks to balance threads, few enough that each amortises its overhead.
fn rows_per_task(rows: usize) -> usize {
    let threads = pool::current_threads();
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
                matmul(w, &x, n_tokens, SumOrder::Fastest, &mut out, &mut MatmulScratch::default()).unwrap();
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

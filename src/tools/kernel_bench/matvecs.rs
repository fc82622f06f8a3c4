//! The one-token and batched quantized mat-vecs, and their ceiling: a chain of dependent
//! launches that only read the same weight bytes (`read_peak`).

use std::rc::Rc;

use super::{device_blocks, f32s, filled, time, weight_bytes, BenchResult, Work};
use rocmforge::backend::gpu::launchers::{matvec, matvec_batch, matvec_glu, matvec_multi, quantize_q8_1, read_peak};
use rocmforge::backend::gpu::tuning::{multi_sizes, ByShape, Choice, MatrixShape};
use rocmforge::backend::gpu::{
    BlockQ8_1, DeviceBuffer, Gpu, Kernels, LaunchError, Quant, QuantBlock, StreamHandle, View, ViewMut,
};

/// Bytes of weight copies a mat-vec benchmark cycles through: over 4x the L2 cache of the GPUs
/// we measure on (H200: 60 MB; MI300X: 4 MB, with a 256 MB Infinity Cache behind it).
const ROTATION_BYTES: usize = 256 << 20;

/// Copies of one set of random weights for `n` values: as many as launches reading `per_launch`
/// bytes each (all their matrices) take to cycle through `ROTATION_BYTES`.
fn weight_copies<W: QuantBlock>(
    gpu: &Rc<dyn Gpu>,
    label: &str,
    n: usize,
    per_launch: usize,
) -> Result<Vec<DeviceBuffer<W>>, LaunchError> {
    let blocks = device_blocks::<W>(label, n);
    (0..ROTATION_BYTES.div_ceil(per_launch)).map(|_| filled(gpu, &blocks)).collect()
}

/// `tokens` rows of x quantized to q8_1 on the device, as the mat-vecs read them.
fn quantized_x(k: &Kernels, tokens: usize, cols: usize) -> Result<DeviceBuffer<BlockQ8_1>, LaunchError> {
    let x = f32s(k.gpu(), "bench x", tokens * cols)?;
    let mut xq = DeviceBuffer::<BlockQ8_1>::uninit(k.gpu(), tokens * cols / 32)?;
    let args = quantize_q8_1::Args { xq: xq.view_mut(), x: x.view(), n_cols: cols as i32, n_rows: tokens as i32 };
    quantize_q8_1::Kernel::resolve(k)?.launch(StreamHandle::DEFAULT, args)?;
    Ok(xq)
}

/// The tuning axes' values the bundle's table gives `family` for launches on `quant` weights of
/// these sizes (the family's defaults where it names none).
fn tuned(k: &Kernels, family: &str, quant: Quant, sizes: &[(&str, u64)]) -> Result<Choice, LaunchError> {
    Ok(ByShape::resolve(k, family, Choice::clone)?.get(quant, sizes).clone())
}

/// The sizes a mat-vec of a `rows` x `cols` matrix is tuned by.
fn matrix_sizes<W: QuantBlock>(rows: usize, cols: usize) -> [(&'static str, u64); 2] {
    MatrixShape { quant: W::QUANT, n_rows: rows as u64, n_cols: cols as u64 }.sizes()
}

/// y = W x at `rows` x `cols` with the tuning axes' values `choice`, or those the bundle's tuning
/// table picks for the shape.
pub(super) fn matvec_bench<W: QuantBlock>(
    k: &Kernels,
    rows: usize,
    cols: usize,
    choice: Option<&Choice>,
) -> Result<BenchResult, LaunchError> {
    let picked;
    let choice = match choice {
        Some(c) => c,
        None => {
            picked = tuned(k, matvec::FAMILY, W::QUANT, &matrix_sizes::<W>(rows, cols))?;
            &picked
        }
    };
    matvec_bench_at::<W>(k, rows, cols, choice)
}

/// y = W x at `rows` x `cols` with the tuning axes' values `choice`.
pub fn matvec_bench_at<W: QuantBlock>(
    k: &Kernels,
    rows: usize,
    cols: usize,
    choice: &Choice,
) -> Result<BenchResult, LaunchError> {
    let bytes = weight_bytes::<W>(rows * cols);
    let w = weight_copies::<W>(k.gpu(), "bench w", rows * cols, bytes as usize)?;
    let (xq, mut y) = (quantized_x(k, 1, cols)?, DeviceBuffer::<f32>::uninit(k.gpu(), rows)?);
    let name = format!("matvec {} {rows}x{cols}", W::QUANT);
    let kernel = matvec::Kernel::<W>::resolve(k, choice.get("rows"), choice.get("loads"))?;
    let (n_cols, n_rows) = (cols as i32, rows as i32);
    let mut next = 0;
    time(k, name, Work::Bytes(bytes), &mut |s| {
        next += 1;
        let w = w[next % w.len()].view();
        kernel.launch(s, matvec::Args { y: y.view_mut(), w, xq: xq.view(), n_cols, n_rows })
    })
}

/// y[t] = W x[t] for `tokens` tokens at `rows` x `cols`: the weight bytes it reads once for all
/// of them, per second.
pub(super) fn matvec_batch_bench<W: QuantBlock>(
    k: &Kernels,
    tokens: usize,
    rows: usize,
    cols: usize,
) -> Result<BenchResult, LaunchError> {
    let bytes = weight_bytes::<W>(rows * cols);
    let w = weight_copies::<W>(k.gpu(), "bench w", rows * cols, bytes as usize)?;
    let (xq, mut y) = (quantized_x(k, tokens, cols)?, DeviceBuffer::<f32>::uninit(k.gpu(), tokens * rows)?);
    let name = format!("matvec_batch {} {tokens} tokens {rows}x{cols}", W::QUANT);
    let kernel = matvec_batch::Kernel::<W>::resolve(k)?;
    let (n_cols, n_rows, n_tokens) = (cols as i32, rows as i32, tokens as i32);
    let mut next = 0;
    time(k, name, Work::Bytes(bytes), &mut |s| {
        next += 1;
        let w = w[next % w.len()].view();
        kernel.launch(s, matvec_batch::Args { y: y.view_mut(), w, xq: xq.view(), n_cols, n_rows, n_tokens })
    })
}

/// The fused gate/up mat-vec (SiLU) at `rows` x `cols`, with the variant the tuning table picks.
pub(super) fn matvec_glu_bench<W: QuantBlock>(
    k: &Kernels,
    rows: usize,
    cols: usize,
) -> Result<BenchResult, LaunchError> {
    let choice = tuned(k, matvec_glu::FAMILY, W::QUANT, &matrix_sizes::<W>(rows, cols))?;
    matvec_glu_bench_at::<W>(k, rows, cols, &choice)
}

/// The fused gate/up mat-vec with the tuning axes' values `choice`.
pub fn matvec_glu_bench_at<W: QuantBlock>(
    k: &Kernels,
    rows: usize,
    cols: usize,
    choice: &Choice,
) -> Result<BenchResult, LaunchError> {
    let bytes = 2.0 * weight_bytes::<W>(rows * cols);
    let gate = weight_copies::<W>(k.gpu(), "bench gate", rows * cols, bytes as usize)?;
    let up = weight_copies::<W>(k.gpu(), "bench up", rows * cols, bytes as usize)?;
    let (xq, mut y) = (quantized_x(k, 1, cols)?, DeviceBuffer::<f32>::uninit(k.gpu(), rows)?);
    let name = format!("matvec_glu {} silu {rows}x{cols}", W::QUANT);
    let kernel = matvec_glu::Kernel::<W>::resolve(k, matvec_glu::Act::Silu, choice.get("loads"))?;
    let (n_cols, n_rows) = (cols as i32, rows as i32);
    let mut next = 0;
    time(k, name, Work::Bytes(bytes), &mut |s| {
        next += 1;
        let (w_gate, w_up) = (gate[next % gate.len()].view(), up[next % up.len()].view());
        kernel.launch(s, matvec_glu::Args { y: y.view_mut(), w_gate, w_up, xq: xq.view(), n_cols, n_rows })
    })
}

/// A layer's Q, K and V (`rows` each, the largest first, 0 for an absent matrix) times one
/// token in one launch, with the variant the tuning table picks.
pub(super) fn matvec_multi_bench<W: QuantBlock>(
    k: &Kernels,
    rows: [usize; 3],
    cols: usize,
) -> Result<BenchResult, LaunchError> {
    let choice = tuned(k, matvec_multi::FAMILY, W::QUANT, &multi_sizes(rows.map(|r| r as u64), cols as u64))?;
    matvec_multi_bench_at::<W>(k, rows, cols, &choice)
}

/// Q, K and V in one launch with the tuning axes' values `choice`.
pub fn matvec_multi_bench_at<W: QuantBlock>(
    k: &Kernels,
    rows: [usize; 3],
    cols: usize,
    choice: &Choice,
) -> Result<BenchResult, LaunchError> {
    let bytes = rows.iter().map(|&r| weight_bytes::<W>(r * cols)).sum::<f64>();
    let copies = |label: &str, r: usize| -> Result<Vec<DeviceBuffer<W>>, LaunchError> {
        if r == 0 {
            return Ok(Vec::new());
        }
        weight_copies::<W>(k.gpu(), label, r * cols, bytes as usize)
    };
    let (wa, wb, wc) = (copies("bench q", rows[0])?, copies("bench k", rows[1])?, copies("bench v", rows[2])?);
    let xq = quantized_x(k, 1, cols)?;
    let mut y =
        rows.map(|r| DeviceBuffer::<f32>::uninit(k.gpu(), r.max(1))).into_iter().collect::<Result<Vec<_>, _>>()?;
    let name = format!("matvec_multi {} {}+{}+{}x{cols}", W::QUANT, rows[0], rows[1], rows[2]);
    let kernel = matvec_multi::Kernel::<W>::resolve(k, choice.get("rows"), choice.get("loads"))?;
    let [rows_a, rows_b, rows_c] = rows.map(|r| r as i32);
    let mut next = 0;
    time(k, name, Work::Bytes(bytes), &mut |s| {
        next += 1;
        fn w<W: QuantBlock>(copies: &[DeviceBuffer<W>], i: usize) -> View<'_, W> {
            copies.get(i % copies.len().max(1)).map_or_else(View::empty, |b| b.view())
        }
        let [y_a, y_b, y_c] = y.get_disjoint_mut([0, 1, 2]).expect("three buffers").map(|b| b.view_mut());
        let (y_b, y_c) =
            (if rows_b == 0 { ViewMut::empty() } else { y_b }, if rows_c == 0 { ViewMut::empty() } else { y_c });
        let (w_a, w_b, w_c) = (w(&wa, next), w(&wb, next), w(&wc, next));
        let n_cols = cols as i32;
        kernel.launch(
            s,
            matvec_multi::Args { y_a, y_b, y_c, w_a, w_b, w_c, xq: xq.view(), n_cols, rows_a, rows_b, rows_c },
        )
    })
}

/// A chain of launches that each read `bytes` (rounded down to 16-byte words) and do nothing
/// else after waiting for the launch before (`read_peak`), cycling through copies as the
/// mat-vecs do: what a mat-vec of that many weight bytes could reach with free arithmetic.
pub(super) fn read_peak_bench(k: &Kernels, bytes: usize) -> Result<BenchResult, LaunchError> {
    let n = bytes / 16;
    let words = vec![0x5A5A_5A5Au32; 4 * n];
    let copies: Vec<_> =
        (0..ROTATION_BYTES.div_ceil(16 * n)).map(|_| filled(k.gpu(), &words)).collect::<Result<_, _>>()?;
    let mut x = DeviceBuffer::<u32>::uninit(
        k.gpu(),
        n.div_ceil(rocmforge_codegen::kernels::read_peak::WORDS_PER_GROUP as usize),
    )?;
    let kernel = read_peak::Kernel::resolve(k)?;
    let name = format!("read_peak {:.1} MB", (16 * n) as f64 / 1e6);
    let mut next = 0;
    time(k, name, Work::Bytes((16 * n) as f64), &mut |s| {
        next += 1;
        kernel.launch(s, read_peak::Args { x: x.view_mut(), words: copies[next % copies.len()].view(), n: n as i64 })
    })
}

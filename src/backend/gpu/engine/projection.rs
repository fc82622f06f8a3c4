//! The two ways the executor projects activations through a weight matrix: the integer
//! mat-vec per token (small passes, decode) and dequantize + matrix-unit GEMM (prefill).

use super::kernels::DecoderKernels;
use super::weights::GpuMatrix;
use crate::backend::gpu::launchers::{dequant, gemm_f16, matvec, with_blocks};
use crate::backend::gpu::{f16, BlockQ8_1, DeviceBuffer, LaunchError, StreamHandle, ViewMut};

/// y[t] = W·x[t] for `n` tokens, with x quantized to q8_1 in `xq`: the integer mat-vec, one
/// launch per token.
pub(super) fn matvec_tokens(
    kern: &DecoderKernels,
    s: StreamHandle,
    y: &mut DeviceBuffer<f32>,
    w: &GpuMatrix,
    xq: &DeviceBuffer<BlockQ8_1>,
    n: usize,
) -> Result<(), LaunchError> {
    let (n_cols, n_rows) = (w.cols as i32, w.rows as i32);
    let blocks = w.cols / 32;
    with_blocks!(&w.blocks, |b| {
        let kernel = kern.matvec.get()?;
        for t in 0..n {
            let args = matvec::Args {
                y: y.slice_mut(t * w.rows..(t + 1) * w.rows),
                w: b.view(),
                xq: xq.slice(t * blocks..(t + 1) * blocks),
                n_cols,
                n_rows,
            };
            kernel.launch(s, args)?;
        }
        Ok(())
    })
}

/// y = x Wᵀ for `n` tokens of x in f16 (`a16`): W dequantized to f16 in `w16`, then the
/// matrix-unit GEMM.
pub(super) fn gemm(
    kern: &DecoderKernels,
    s: StreamHandle,
    y: ViewMut<'_, f32>,
    a16: &DeviceBuffer<f16>,
    w: &GpuMatrix,
    n: u32,
    w16: &mut DeviceBuffer<f16>,
) -> Result<(), LaunchError> {
    let (rows, cols) = (w.rows as i32, w.cols as i32);
    let n_sub = (w.rows * w.cols / 32) as i64;
    let out = w16.view_mut();
    with_blocks!(&w.blocks, |b| kern.dequant.get()?.launch(s, dequant::Args { out, w: b.view(), n_sub }))?;
    kern.gemm.launch(s, gemm_f16::Args { c: y, a: a16.view(), w: w16.view(), m: n as i32, n: rows, k: cols })
}

// Well-typed launches compile (the function is never called: there is no GPU here).
use rocmforge::backend::gpu::launchers::{matvec, matvec_glu, quantize_q8_1, rmsnorm, rope};
use rocmforge::backend::gpu::{BlockQ8_1, DeviceBuffer, Kernels, LaunchError};
use rocmforge::quant::blocks::BlockQ4K;

#[allow(dead_code)]
fn decode_step(
    k: &Kernels,
    y: &mut DeviceBuffer<f32>,
    x: &DeviceBuffer<f32>,
    w: &DeviceBuffer<f32>,
    wq: &DeviceBuffer<BlockQ4K>,
    xq: &mut DeviceBuffer<BlockQ8_1>,
    q: &mut DeviceBuffer<f32>,
    pos: &DeviceBuffer<i32>,
) -> Result<(), LaunchError> {
    rmsnorm::launch(k, y, x, w, 2048, 1e-6, 1)?;
    quantize_q8_1::launch(k, xq, x, 2048, 1)?;
    matvec::launch(k, y, wq, xq, 2048, 2048)?;
    matvec_glu::launch(k, matvec_glu::Act::Silu, y, wq, wq, xq, 2048, 8192)?;
    rope::launch(k, rope::Mode::Neox, 128, q, pos, None, 32, 128, 0.5, 1.0, 1)
}

fn main() {}

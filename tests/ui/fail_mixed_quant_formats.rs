// The fused gate/up kernel is specialised for one weight format: gate and up must agree.
use rocmforge::backend::gpu::launchers::matvec_glu;
use rocmforge::backend::gpu::{BlockQ8_1, DeviceBuffer, StreamHandle};
use rocmforge::quant::blocks::{BlockQ4K, BlockQ8_0};

fn ffn(
    k: &matvec_glu::Kernel<BlockQ4K>,
    y: &mut DeviceBuffer<f32>,
    gate: &DeviceBuffer<BlockQ4K>,
    up: &DeviceBuffer<BlockQ8_0>,
    xq: &DeviceBuffer<BlockQ8_1>,
) {
    let args = matvec_glu::Args { y: y.view_mut(), w_gate: gate.view(), w_up: up.view(), xq: xq.view(), n_cols: 640, n_rows: 2048 };
    let _ = k.launch(StreamHandle::DEFAULT, args);
}

fn main() {}

// The fused gate/up kernel is specialised for one weight format: gate and up must agree.
use rocmforge::backend::gpu::launchers::matvec_glu;
use rocmforge::backend::gpu::{BlockQ8_1, DeviceBuffer, Kernels};
use rocmforge::quant::blocks::{BlockQ4K, BlockQ8_0};

fn ffn(k: &Kernels, y: &mut DeviceBuffer<f32>, gate: &DeviceBuffer<BlockQ4K>, up: &DeviceBuffer<BlockQ8_0>, xq: &DeviceBuffer<BlockQ8_1>) {
    let _ = matvec_glu::launch(k, matvec_glu::Act::Gelu, y, gate, up, xq, 640, 2048);
}

fn main() {}

// Mat-vec weights must be a quantized block type the kernels know.
use rocmforge::backend::gpu::launchers::matvec;
use rocmforge::backend::gpu::{BlockQ8_1, DeviceBuffer, Kernels};

fn project(k: &Kernels, y: &mut DeviceBuffer<f32>, w: &DeviceBuffer<f32>, xq: &DeviceBuffer<BlockQ8_1>) {
    let _ = matvec::launch(k, y, w, xq, 2048, 2048);
}

fn main() {}

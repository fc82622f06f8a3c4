// Mat-vec weights must be a quantized block type the kernels know.
use rocmforge::backend::gpu::launchers::matvec;
use rocmforge::backend::gpu::{DeviceBuffer, Kernels};

fn project(k: &Kernels, y: &mut DeviceBuffer<f32>, w: &DeviceBuffer<f32>, x: &DeviceBuffer<f32>) {
    let _ = matvec::launch(k, y, w, x, 2048, 2048);
}

fn main() {}

// The kernel writes `y`: a shared reference is refused.
use rocmforge::backend::gpu::launchers::rmsnorm;
use rocmforge::backend::gpu::{DeviceBuffer, Kernels};

fn norm(k: &Kernels, y: &DeviceBuffer<f32>, x: &DeviceBuffer<f32>, w: &DeviceBuffer<f32>) {
    let _ = rmsnorm::launch(k, y, x, w, 2048, 1e-6, 1);
}

fn main() {}

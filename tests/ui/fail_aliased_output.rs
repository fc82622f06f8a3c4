// One buffer as both the output and an input of the same launch is refused.
use rocmforge::backend::gpu::launchers::rmsnorm;
use rocmforge::backend::gpu::{DeviceBuffer, Kernels};

fn norm_in_place(k: &Kernels, x: &mut DeviceBuffer<f32>, w: &DeviceBuffer<f32>) {
    let _ = rmsnorm::launch(k, x, x, w, 2048, 1e-6, 1);
}

fn main() {}

// rmsnorm reads f32 rows: an f16 buffer is refused.
use rocmforge::backend::gpu::launchers::rmsnorm;
use rocmforge::backend::gpu::{f16, DeviceBuffer, Kernels};

fn norm(k: &Kernels, y: &mut DeviceBuffer<f32>, x: &DeviceBuffer<f16>, w: &DeviceBuffer<f32>) {
    let _ = rmsnorm::launch(k, y, x, w, 2048, 1e-6, 1);
}

fn main() {}

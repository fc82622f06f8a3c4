// The kernel writes `y`: a view for reading is refused.
use rocmforge::backend::gpu::launchers::rmsnorm;
use rocmforge::backend::gpu::{DeviceBuffer, StreamHandle};

fn norm(k: &rmsnorm::Kernel, y: &DeviceBuffer<f32>, x: &DeviceBuffer<f32>, w: &DeviceBuffer<f32>) {
    let args = rmsnorm::Args { y: y.view(), x: x.view(), w: w.view(), n: 2048, eps: 1e-6, n_rows: 1 };
    let _ = k.launch(StreamHandle::DEFAULT, args);
}

fn main() {}

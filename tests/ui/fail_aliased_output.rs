// One buffer as both the output and an input of the same launch is refused.
use rocmforge::backend::gpu::launchers::rmsnorm;
use rocmforge::backend::gpu::{DeviceBuffer, StreamHandle};

fn norm_in_place(k: &rmsnorm::Kernel, x: &mut DeviceBuffer<f32>, w: &DeviceBuffer<f32>) {
    let args = rmsnorm::Args { y: x.view_mut(), x: x.view(), w: w.view(), n: 2048, eps: 1e-6, n_rows: 1 };
    let _ = k.launch(StreamHandle::DEFAULT, args);
}

fn main() {}

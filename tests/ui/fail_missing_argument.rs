// Arguments are named, and every one must be given.
use rocmforge::backend::gpu::launchers::rmsnorm;
use rocmforge::backend::gpu::{DeviceBuffer, StreamHandle};

fn norm(k: &rmsnorm::Kernel, y: &mut DeviceBuffer<f32>, x: &DeviceBuffer<f32>, w: &DeviceBuffer<f32>) {
    let args = rmsnorm::Args { y: y.view_mut(), x: x.view(), w: w.view(), n: 2048, n_rows: 1 };
    let _ = k.launch(StreamHandle::DEFAULT, args);
}

fn main() {}

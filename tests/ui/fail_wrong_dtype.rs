// rmsnorm reads f32 rows: an f16 buffer is refused.
use rocmforge::backend::gpu::launchers::rmsnorm;
use rocmforge::backend::gpu::{f16, DeviceBuffer, StreamHandle};

fn norm(k: &rmsnorm::Kernel, y: &mut DeviceBuffer<f32>, x: &DeviceBuffer<f16>, w: &DeviceBuffer<f32>) {
    let args = rmsnorm::Args { y: y.view_mut(), x: x.view(), w: w.view(), n: 2048, eps: 1e-6, n_rows: 1 };
    let _ = k.launch(StreamHandle::DEFAULT, args);
}

fn main() {}

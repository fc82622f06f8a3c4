// Axis values are typed: the rope mode is an enum, not a string.
use rocmforge::backend::gpu::launchers::rope;
use rocmforge::backend::gpu::{DeviceBuffer, Kernels};

fn rotate(k: &Kernels, q: &mut DeviceBuffer<f32>, pos: &DeviceBuffer<i32>) {
    let _ = rope::launch(k, "neox", 128, q, pos, None, 32, 128, 0.5, 1.0, 1);
}

fn main() {}

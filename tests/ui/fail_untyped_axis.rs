// Axis values are typed: the rope mode is an enum, not a string.
use rocmforge::backend::gpu::launchers::rope;
use rocmforge::backend::gpu::Kernels;

fn rotate(k: &Kernels) {
    let _ = rope::Kernel::resolve(k, "neox", 128);
}

fn main() {}

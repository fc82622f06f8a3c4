// Mat-vec weights must be a quantized block type the kernels know.
use rocmforge::backend::gpu::launchers::matvec;
use rocmforge::backend::gpu::Kernels;

fn project(k: &Kernels) {
    let _ = matvec::Kernel::<f32>::resolve(k, 16, 8);
}

fn main() {}

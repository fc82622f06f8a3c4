//! The HIP runtime (`libamdhip64`), loaded at run time: the binary needs no ROCm to start, and
//! on a machine with ROCm it finds the GPU and its architecture (gfx942, …).

mod driver;

pub use driver::Hip;

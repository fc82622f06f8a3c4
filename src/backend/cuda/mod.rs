//! The CUDA driver API, loaded at run time (`libcuda.so.1`), so the binary starts on machines
//! without NVIDIA's driver and says why when it is asked for a GPU.

mod driver;

pub use driver::Cuda;

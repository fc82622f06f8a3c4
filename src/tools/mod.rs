//! Tooling beside the library, used only by the binary (`test-kernels`, `bench-kernels`): the
//! kernel parity harness and the kernel benchmarks. They reach the library through its public
//! API, as any other user of the kernels would.

pub mod kernel_bench;
pub mod parity;

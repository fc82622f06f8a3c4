//! Tooling beside the library, used only by the binary (`test-kernels`, `bench-kernels`,
//! `bench-serve`, `synth`, `tune`): the kernel parity harness, the kernel benchmarks and tuning, and the server load generator. They reach the library through its public
//! API, as any other user of the kernels would.

pub mod kernel_bench;
pub mod parity;
pub mod serve_bench;
pub mod synth;
pub mod tune;

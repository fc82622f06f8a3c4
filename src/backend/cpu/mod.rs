//! The CPU backend: the reference every GPU kernel is checked against, and the default device.

mod attention;
mod executor;
mod kv_cache;
mod matmul;
pub mod ops;
mod pool;
pub mod sample;
mod sum_order;
pub mod vec;

pub use attention::{attention, AttentionShape, TILED_MIN_QUERIES};
pub use executor::{default_threads, CpuDevice, CpuExecutor};
pub use kv_cache::{available_memory, KvCache, KvRows};
pub use matmul::{matmul, MatmulScratch, QMatrix};
pub use sum_order::SumOrder;

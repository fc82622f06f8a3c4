//! Running a model on a GPU: its weights uploaded once (`weights`) with the kernels the graph
//! launches resolved for its shape (`kernels`), and executors holding each set of sequences'
//! paged KV cache (`kv_cache`) and work buffers (`executor`, projecting through `projection`,
//! attending through `attention`).

mod attention;
mod executor;
mod kernels;
mod kv_cache;
mod projection;
mod sampling;
mod weights;

pub use attention::{decode_attention, decode_splits, DecodeAttention};
pub use executor::{GpuExecutor, UBATCH};
pub use kernels::split_k_extent;
pub use sampling::DeviceSampler;
pub use weights::{gpu_quant, GpuModel};

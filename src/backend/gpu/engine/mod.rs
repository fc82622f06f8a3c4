//! Running a model on a GPU: its weights uploaded once (`weights`) with the kernels the graph
//! launches resolved for its shape (`kernels`), and executors holding each set of sequences'
//! KV cache and work buffers (`executor`, projecting through `projection`).

mod attention;
mod executor;
mod kernels;
mod projection;
mod sampling;
mod weights;

pub use attention::{decode_attention, DecodeAttention};
pub use executor::{GpuExecutor, UBATCH};
pub use sampling::DeviceSampler;
pub use weights::GpuModel;

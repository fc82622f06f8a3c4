//! Running a model on a GPU: its weights uploaded once (`weights`), and executors holding each
//! set of sequences' KV cache and work buffers (`executor`).

mod executor;
mod sampling;
mod weights;

pub use executor::{GpuExecutor, UBATCH};
pub use sampling::DeviceSampler;
pub use weights::GpuModel;

//! Devices that compute a model. The decoder graph is written once (`graph`) and run by an
//! executor per device: `cpu` (always present, and the reference) and `gpu` (HIP or CUDA,
//! their driver libraries loaded on demand, or `sim`, the CPU's kernel simulator). Executors take batches of tokens from one or
//! more sequences (`batch`).

mod batch;
pub mod cpu;
pub mod cuda;
pub mod device;
pub mod gpu;
pub mod graph;
pub mod hip;
pub mod kv_blocks;
pub mod sim;

use std::ops::Range;

pub(crate) use batch::check_output_rows;
pub use batch::{clip_runs, Batch, BatchToken, Run};
pub use device::DeviceSpec;
pub use kv_blocks::{row_of, KvBlocks, KvUsage, KV_BLOCK};

use crate::quant::QuantError;
use cpu::sample::{argmax, pick, SamplerConfig};

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Quant(#[from] QuantError),
    #[error("context is full: {needed} positions needed, the context holds {n_ctx}")]
    ContextFull { n_ctx: usize, needed: usize },
    #[error("token id {token} is outside the vocabulary ({n_vocab} tokens)")]
    BadToken { token: u32, n_vocab: usize },
    #[error("bad batch: {0}")]
    BadBatch(String),
    #[error("{what} needs {} but only {} are available", gib(*needed), gib(*available))]
    OutOfMemory { what: String, needed: u64, available: u64 },
    #[error("{0}")]
    Threads(String),
    #[error(transparent)]
    Launch(#[from] gpu::LaunchError),
    #[error(transparent)]
    Gpu(#[from] gpu::GpuError),
    #[error("the GPU backend cannot run this model: {0}")]
    Unsupported(String),
}

fn gib(bytes: u64) -> String {
    if bytes == u64::MAX {
        "more than the address space".into()
    } else {
        format!("{:.2} GiB ({bytes} bytes)", bytes as f64 / (1u64 << 30) as f64)
    }
}

/// Runs a model on one device for a set of sequences, each with its KV cache.
pub trait Executor {
    /// Computes `batch`; afterwards the logits of its tokens that asked for them can be read.
    fn forward(&mut self, batch: &Batch) -> Result<(), BackendError>;
    /// How many of the last batch's tokens asked for logits.
    fn n_outputs(&self) -> usize;
    /// Logits (`n_vocab` per row) of output rows `rows` of the last batch.
    fn logits(&mut self, rows: Range<usize>) -> Result<Vec<f32>, BackendError>;
    /// The most likely token of every output row (computed where the logits are).
    fn greedy(&mut self) -> Result<Vec<u32>, BackendError> {
        let logits = self.logits(0..self.n_outputs())?;
        let n_vocab = logits.len() / self.n_outputs().max(1);
        Ok(logits.chunks_exact(n_vocab.max(1)).map(argmax).collect())
    }
    /// One token per output row, drawn with `cfg` (whose penalties the caller has left out)
    /// and row i's uniform `draws[i]`, as `cpu::sample::pick` draws (on the device where
    /// it can).
    fn sample(&mut self, cfg: &SamplerConfig, draws: &[f32]) -> Result<Vec<u32>, BackendError> {
        let logits = self.logits(0..draws.len())?;
        let n_vocab = logits.len() / draws.len().max(1);
        Ok(logits.chunks_exact(n_vocab.max(1)).zip(draws).map(|(row, &r)| pick(row, cfg, r)).collect())
    }
    /// The paged KV cache's tables: which blocks hold each sequence's positions.
    fn kv_blocks(&self) -> &KvBlocks;
    /// Positions sequence `seq` holds; its next token goes there.
    fn seq_len(&self, seq: usize) -> usize {
        self.kv_blocks().len(seq)
    }
    /// Forgets sequence `seq` from position `len` on.
    fn truncate(&mut self, seq: usize, len: usize);
    /// Makes sequence `dst` hold sequence `src`'s first `len` positions by sharing their KV
    /// blocks, without computing them again (llama.cpp's `llama_memory_seq_cp`); what `dst`
    /// held is forgotten.
    fn share_prefix(&mut self, src: usize, dst: usize, len: usize);
    /// Positions each sequence can hold.
    fn n_ctx(&self) -> usize;
    /// The device, for reports.
    fn describe(&self) -> String;

    /// Appends `tokens` to sequence 0 and returns the logits after the last one.
    fn forward_last(&mut self, tokens: &[u32]) -> Result<Vec<f32>, BackendError> {
        let pos = self.seq_len(0);
        self.forward(&Batch::sequence(tokens, pos, 0, tokens.len().saturating_sub(1)))?;
        self.logits(0..1)
    }
}

//! Devices that compute a model. The CPU backend is always present; GPUs are found at run time
//! (`gpu::Gpu`, implemented by `hip` and `cuda`, whose driver libraries are loaded on demand).

pub mod cpu;
pub mod cuda;
pub mod gpu;
pub mod hip;

use crate::quant::QuantError;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Quant(#[from] QuantError),
    #[error("context is full: {needed} positions needed, the context holds {n_ctx}")]
    ContextFull { n_ctx: usize, needed: usize },
    #[error("token id {token} is outside the vocabulary ({n_vocab} tokens)")]
    BadToken { token: u32, n_vocab: usize },
}

//! What a model is: architecture, hyperparameters and weights, read from a GGUF file.
//! How it is computed lives in `backend`.

mod arch;
mod config;
mod weights;

use std::path::Path;

pub use arch::{Activation, Arch, RopeKind};
pub use config::{ModelConfig, RopeConfig};
pub use weights::{LayerTensor, LayerWeights, Matrix, Weights};

use crate::gguf::{GgmlType, Gguf, GgufError};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("unknown architecture {0:?} (supported: llama, mistral, qwen2, gemma3)")]
    UnknownArchitecture(String),
    #[error("bad hyperparameter: {0}")]
    BadHyperparameter(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("tensor {name:?}: {problem}")]
    Tensor { name: String, problem: String },
    #[error("tensor {name:?} has type {ty}, which the CPU backend cannot compute with yet")]
    UnsupportedTensorType { name: String, ty: GgmlType },
}

pub struct Model {
    pub gguf: Gguf,
    pub config: ModelConfig,
    pub weights: Weights,
}

impl Model {
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let gguf = Gguf::open(path)?;
        Self::from_gguf(gguf)
    }

    pub fn from_gguf(gguf: Gguf) -> Result<Self, ModelError> {
        let config = ModelConfig::from_gguf(&gguf)?;
        let bar = crate::progress::count_bar(config.n_layer as u64, "load");
        let weights = Weights::load(&gguf, &config, |_| bar.inc(1))?;
        bar.finish_and_clear();
        tracing::info!(
            arch = ?config.arch, layers = config.n_layer, embd = config.n_embd, vocab = config.n_vocab,
            "loaded {}", config.name
        );
        Ok(Model { gguf, config, weights })
    }

    /// The bytes of a weight matrix, borrowed from the memory map.
    pub fn data(&self, m: &Matrix) -> &[u8] {
        self.gguf.tensor_bytes(&m.info)
    }
}

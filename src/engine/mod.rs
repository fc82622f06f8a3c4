//! Running a model: loading it with its tokenizer, generation, perplexity and benchmarks.

pub mod bench;
pub mod chat;
mod generate;
pub mod perplexity;
pub mod sampler;
mod text_stream;

use std::path::Path;

pub use generate::{GenerateOptions, Generation};
pub use sampler::{Sampler, SamplerConfig};
pub use text_stream::TextStream;

use crate::backend::BackendError;
use crate::gguf::Gguf;
use crate::model::{Model, ModelError};
use crate::tokenizer::{Tokenizer, TokenizerError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Chat(#[from] chat::ChatError),
    #[error(
        "the prompt has {n_prompt} tokens but the context holds {n_ctx}: use a larger --ctx-size or a shorter prompt"
    )]
    PromptTooLong { n_prompt: usize, n_ctx: usize },
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("{0}")]
    Invalid(String),
    #[error("cannot start {threads} worker threads: {source}")]
    Threads { threads: usize, source: rayon::ThreadPoolBuildError },
}

/// A loaded model, its tokenizer and the worker threads that compute it.
pub struct Engine {
    pub model: Model,
    pub tokenizer: Tokenizer,
    pool: rayon::ThreadPool,
}

impl Engine {
    pub fn load(path: impl AsRef<Path>, threads: usize) -> Result<Self, EngineError> {
        let gguf = Gguf::open(path).map_err(ModelError::from)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let model = Model::from_gguf(gguf)?;
        if tokenizer.n_vocab() != model.config.n_vocab {
            return Err(EngineError::Invalid(format!(
                "the tokenizer has {} tokens but the model's embedding has {}",
                tokenizer.n_vocab(),
                model.config.n_vocab
            )));
        }
        let threads = if threads == 0 { default_threads() } else { threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("rocmforge-cpu-{i}"))
            .build()
            .map_err(|source| EngineError::Threads { threads, source })?;
        Ok(Engine { model, tokenizer, pool })
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `f` on the engine's worker threads.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// The model's chat template applied to one user message.
    pub fn chat_prompt(&self, user: &str) -> Result<String, EngineError> {
        let template = self.model.gguf.get_str("tokenizer.chat_template").map_err(|_| chat::ChatError::NoTemplate)?;
        let piece = |id: Option<u32>| {
            id.map(|t| String::from_utf8_lossy(&self.tokenizer.token_to_piece(t, true)).into_owned())
                .unwrap_or_default()
        };
        let messages = [chat::Message { role: "user".into(), content: user.into() }];
        Ok(chat::apply_template(template, &messages, &piece(self.tokenizer.bos()), &piece(self.tokenizer.eos()))?)
    }
}

/// One thread per physical core is what llama.cpp defaults to; we take what the OS reports.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

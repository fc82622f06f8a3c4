//! Running a model: loading it with its tokenizer, generation, perplexity and benchmarks.

pub mod bench;
pub mod chat;
mod generate;
pub mod kl_divergence;
pub mod perplexity;
pub mod sampler;
mod text_stream;

use std::path::Path;

pub use generate::{GenerateOptions, Generation};
pub use sampler::{Sampler, SamplerConfig};
pub use text_stream::TextStream;

use crate::backend::cpu::{CpuDevice, CpuExecutor, SumOrder};
use crate::backend::gpu::bundles::load_bundle;
use crate::backend::gpu::engine::{GpuExecutor, GpuModel};
use crate::backend::gpu::{GpuKind, Kernels};
use crate::backend::{BackendError, DeviceSpec, Executor};
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
}

/// A loaded model, its tokenizer and the device that computes it: the CPU's worker threads,
/// and the model's weights on a GPU when one runs it.
pub struct Engine {
    pub model: Model,
    pub tokenizer: Tokenizer,
    cpu: CpuDevice,
    gpu: Option<GpuModel>,
    /// Which device runs the model, and why (for the user's stderr).
    pub device_note: String,
    chat_template: Option<String>,
}

impl Engine {
    /// Loads the model on the CPU.
    pub fn load(path: impl AsRef<Path>, threads: usize) -> Result<Self, EngineError> {
        Self::load_on(path, threads, DeviceSpec::Cpu)
    }

    /// Loads the model and puts its weights on `device` (`Auto`: the first usable GPU, else the CPU).
    pub fn load_on(path: impl AsRef<Path>, threads: usize, device: DeviceSpec) -> Result<Self, EngineError> {
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
        let cpu = CpuDevice::new(threads)?;
        let (gpu, why_not) = match device {
            DeviceSpec::Cpu => (None, None),
            DeviceSpec::Gpu { kind, ordinal } => (Some(gpu_model(&model, kind, ordinal)?), None),
            DeviceSpec::Auto => match auto_gpu(&model) {
                Ok(gm) => (Some(gm), None),
                Err(why) => (None, Some(why)),
            },
        };
        let device_note = match (&gpu, why_not) {
            (Some(gm), _) => {
                let mib = gm.bytes as f64 / (1u64 << 20) as f64;
                format!("device: {} ({mib:.0} MiB of weights)", gm.kernels.gpu().describe())
            }
            (None, None) => format!("device: CPU ({} threads)", cpu.threads()),
            (None, Some(why)) => format!("device: CPU ({} threads); no GPU: {why}", cpu.threads()),
        };
        Ok(Engine { model, tokenizer, cpu, gpu, device_note, chat_template: None })
    }

    pub fn threads(&self) -> usize {
        self.cpu.threads()
    }

    pub fn on_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// An executor on the engine's device for `n_seq` sequences of up to `n_ctx` positions
    /// (its KV cache is allocated now, and sized for exactly that).
    pub fn executor(&self, n_ctx: usize, n_seq: usize) -> Result<Box<dyn Executor + '_>, EngineError> {
        self.executor_summing(n_ctx, n_seq, SumOrder::Fastest)
    }

    /// An executor whose sequences get the same results alone or batched together, for a
    /// server (see `SumOrder`). On a GPU the decode mat-vec and the prefill GEMM still round
    /// differently, so there a sequence's results depend on the size of its batch.
    pub fn batch_invariant_executor(&self, n_ctx: usize, n_seq: usize) -> Result<Box<dyn Executor + '_>, EngineError> {
        self.executor_summing(n_ctx, n_seq, SumOrder::BatchInvariant)
    }

    fn executor_summing(
        &self,
        n_ctx: usize,
        n_seq: usize,
        order: SumOrder,
    ) -> Result<Box<dyn Executor + '_>, EngineError> {
        let train = self.model.config.n_ctx_train;
        if n_ctx > train {
            tracing::warn!("the context of {n_ctx} positions is longer than the {train} the model was trained on");
        }
        Ok(match &self.gpu {
            Some(gm) => Box::new(GpuExecutor::new(&self.model, gm, n_ctx, n_seq)?),
            None => Box::new(CpuExecutor::new(&self.model, &self.cpu, n_ctx, n_seq)?.summing(order)),
        })
    }

    /// The chat template: the one set with `set_chat_template`, else the model's, else Gemma's
    /// turns for a Gemma model and ChatML (llama.cpp's fallback) for any other.
    pub fn chat_template(&self) -> &str {
        if let Some(t) = &self.chat_template {
            return t;
        }
        match self.model.gguf.get_str("tokenizer.chat_template") {
            Ok(t) => t,
            Err(_) if self.model.gguf.architecture().is_ok_and(|a| a.starts_with("gemma")) => chat::GEMMA,
            Err(_) => chat::CHATML,
        }
    }

    pub fn set_chat_template(&mut self, template: String) {
        self.chat_template = Some(template);
    }

    /// The chat template applied to `messages`, ending with the assistant's turn.
    pub fn chat_prompt(&self, messages: &[chat::Message]) -> Result<String, EngineError> {
        let template = self.chat_template();
        let piece = |id: Option<u32>| id.map(|t| self.piece(t)).unwrap_or_default();
        Ok(chat::apply_template(template, messages, &piece(self.tokenizer.bos()), &piece(self.tokenizer.eos()))?)
    }

    /// The tokens of a chat prompt: a template that writes BOS itself gets no second one
    /// (llama.cpp adds none either).
    pub fn chat_ids(&self, prompt: &str) -> Vec<u32> {
        let has_bos = self.tokenizer.bos().is_some_and(|b| prompt.starts_with(&self.piece(b)));
        self.tokenizer.encode(prompt, !has_bos, true)
    }

    /// A token's text, special tokens included.
    pub fn piece(&self, id: u32) -> String {
        String::from_utf8_lossy(&self.tokenizer.token_to_piece(id, true)).into_owned()
    }
}

/// The model on GPU `kind:ordinal`, with its kernel bundle (found, or compiled now).
fn gpu_model(model: &Model, kind: GpuKind, ordinal: usize) -> Result<GpuModel, EngineError> {
    let gpu = kind.open_ordinal(ordinal).map_err(BackendError::from)?;
    let (target, host) = (gpu.target().map_err(BackendError::from)?, gpu.host().map_err(BackendError::from)?);
    let (path, bundle) = load_bundle(target, host).map_err(|e| EngineError::Invalid(e.to_string()))?;
    let kernels = Kernels::load(&gpu, &bundle, &path).map_err(BackendError::from)?;
    Ok(GpuModel::upload(model, kernels)?)
}

/// The first GPU that opens and has (or can compile) its bundle, or why there is none.
fn auto_gpu(model: &Model) -> Result<GpuModel, String> {
    let mut reasons = Vec::new();
    for kind in GpuKind::ALL {
        match gpu_model(model, kind, 0) {
            Ok(gm) => return Ok(gm),
            Err(e) => reasons.push(format!("{kind}: {e}")),
        }
    }
    Err(reasons.join("; "))
}

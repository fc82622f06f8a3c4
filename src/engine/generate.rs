//! Prompt processing and token-by-token generation with streaming.

use std::time::{Duration, Instant};

use super::{Engine, EngineError, Sampler, SamplerConfig, TextStream};
use crate::backend::{Batch, Executor};

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    /// Context size; 0 means "prompt + max_tokens, at most the model's training context".
    pub n_ctx: usize,
    pub sampler: SamplerConfig,
    /// Stop at an end-of-generation token (which is not emitted).
    pub stop_at_eog: bool,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub prompt_ids: Vec<u32>,
    pub ids: Vec<u32>,
    pub text: String,
    pub prompt_time: Duration,
    pub gen_time: Duration,
    pub stopped_on_eog: bool,
}

impl Generation {
    pub fn prompt_tps(&self) -> f64 {
        self.prompt_ids.len() as f64 / self.prompt_time.as_secs_f64().max(1e-9)
    }

    /// Tokens per second of generation; the first token comes from the prompt pass, so it is
    /// not counted (llama.cpp's "eval" rate counts the same way).
    pub fn gen_tps(&self) -> f64 {
        self.ids.len().saturating_sub(1) as f64 / self.gen_time.as_secs_f64().max(1e-9)
    }
}

impl Engine {
    /// Generates up to `opts.max_tokens` tokens after `prompt_ids`, calling `on_text` with
    /// each piece of text as soon as it is complete UTF-8.
    pub fn generate(
        &self,
        prompt_ids: &[u32],
        opts: &GenerateOptions,
        mut on_text: impl FnMut(&str) + Send,
    ) -> Result<Generation, EngineError> {
        if prompt_ids.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        opts.sampler.validate().map_err(EngineError::Invalid)?;
        let n_ctx = self.context_size(prompt_ids.len(), opts)?;
        let mut exec = self.executor(n_ctx, 1)?;
        let mut sampler = Sampler::new(opts.sampler.clone());
        prompt_ids.iter().for_each(|&t| sampler.accept(t));
        let mut stream = TextStream::default();
        let mut out = Generation {
            prompt_ids: prompt_ids.to_vec(),
            ids: Vec::new(),
            text: String::new(),
            prompt_time: Duration::ZERO,
            gen_time: Duration::ZERO,
            stopped_on_eog: false,
        };

        let t0 = Instant::now();
        exec.forward(&Batch::sequence(prompt_ids, 0, 0, prompt_ids.len() - 1))?;
        let mut token = pick(exec.as_mut(), &mut sampler)?;
        out.prompt_time = t0.elapsed();
        let t1 = Instant::now();
        while out.ids.len() < opts.max_tokens {
            if opts.stop_at_eog && self.tokenizer.is_eog(token) {
                out.stopped_on_eog = true;
                break;
            }
            sampler.accept(token);
            out.ids.push(token);
            let text = stream.push(&self.tokenizer.token_to_piece(token, true));
            on_text(&text);
            out.text.push_str(&text);
            let pos = exec.seq_len(0);
            if out.ids.len() == opts.max_tokens || pos == n_ctx {
                break;
            }
            exec.forward(&Batch::sequence(&[token], pos, 0, 0))?;
            token = pick(exec.as_mut(), &mut sampler)?;
        }
        out.gen_time = t1.elapsed();
        let rest = stream.finish();
        on_text(&rest);
        out.text.push_str(&rest);
        Ok(out)
    }

    fn context_size(&self, n_prompt: usize, opts: &GenerateOptions) -> Result<usize, EngineError> {
        let train = self.model.config.n_ctx_train;
        let n_ctx = if opts.n_ctx == 0 { (n_prompt + opts.max_tokens).min(train) } else { opts.n_ctx };
        if n_prompt > n_ctx {
            return Err(EngineError::PromptTooLong { n_prompt, n_ctx });
        }
        Ok(n_ctx)
    }
}

/// The next token after the last output row: drawn where the logits are (on the device) unless
/// a penalty needs the sequence's history, when the host sampler takes the logits.
fn pick(exec: &mut dyn Executor, sampler: &mut Sampler) -> Result<u32, EngineError> {
    let cfg = sampler.config().clone();
    if cfg.is_plain_greedy() {
        Ok(exec.greedy()?[0])
    } else if !cfg.has_penalties() {
        let r = sampler.draw();
        Ok(exec.sample(&cfg, &[r])?[0])
    } else {
        Ok(sampler.sample(&mut exec.logits(0..1)?))
    }
}

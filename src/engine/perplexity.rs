//! Perplexity exactly as `llama-perplexity` computes it: the text (with BOS, special tokens not
//! parsed) is cut into chunks of `n_ctx` tokens, each chunk's first token is replaced by BOS,
//! each chunk is evaluated from an empty cache, and only its second half is scored.
//! `kl_divergence` scores the same way against a base model's log-probabilities.

use std::io::Write;

use serde::Serialize;

use super::kl_divergence::{encode_row, LogitsHeader};
use super::{Engine, EngineError};
use crate::backend::Batch;

/// Rows of logits computed at once (each is n_vocab floats: 1 MiB for a 262k vocabulary).
const LOGIT_ROWS: usize = 16;

#[derive(Debug, Clone, Serialize)]
pub struct Perplexity {
    pub ppl: f64,
    /// llama.cpp's "+/-": ppl · sqrt(var(nll) / (count − 1)).
    pub ppl_std: f64,
    pub n_ctx: usize,
    pub n_chunks: usize,
    pub n_tokens: usize,
    /// The running perplexity after each chunk (what llama-perplexity prints as `[i]`).
    pub chunk_ppl: Vec<f64>,
}

/// What `score_chunks` reports.
pub(crate) enum Scored<'a> {
    /// A scored position's logits and the token that follows it in the text.
    Row {
        logits: &'a [f32],
        target: usize,
    },
    ChunkDone(usize),
}

/// Running sums of negative log-likelihoods.
#[derive(Default)]
pub(crate) struct Nll {
    sum: f64,
    sum2: f64,
    count: usize,
}

impl Nll {
    pub(crate) fn add(&mut self, v: f64) {
        self.sum += v;
        self.sum2 += v * v;
        self.count += 1;
    }

    pub(crate) fn ppl(&self) -> f64 {
        (self.sum / self.count as f64).exp()
    }

    /// ppl · sqrt(var(nll) / (count − 1)), llama.cpp's uncertainty.
    pub(crate) fn ppl_std(&self) -> f64 {
        let mean = self.sum / self.count as f64;
        let var = self.sum2 / self.count as f64 - mean * mean;
        if var > 0.0 && self.count > 1 {
            (var / (self.count - 1) as f64).sqrt() * self.ppl()
        } else {
            0.0
        }
    }
}

impl Engine {
    /// The text's tokens, checked to fill at least one chunk of `n_ctx`.
    pub fn perplexity_tokens(&self, text: &str, n_ctx: usize) -> Result<Vec<u32>, EngineError> {
        if n_ctx < 4 {
            return Err(EngineError::Invalid(format!("perplexity needs a context of at least 4 tokens, got {n_ctx}")));
        }
        let tokens = self.tokenizer.encode(text, true, false);
        if tokens.len() < n_ctx {
            return Err(EngineError::Invalid(format!(
                "the text has {} tokens, fewer than one context of {n_ctx}",
                tokens.len()
            )));
        }
        Ok(tokens)
    }

    /// Perplexity of `text`; with `base_out`, also writes llama-perplexity's log-probability
    /// file (`--kl-divergence-base`) for a later `kl_divergence`.
    pub fn perplexity(
        &self,
        text: &str,
        n_ctx: usize,
        mut base_out: Option<&mut dyn Write>,
        mut on_chunk: impl FnMut(usize, f64),
    ) -> Result<Perplexity, EngineError> {
        let all = self.perplexity_tokens(text, n_ctx)?;
        let tokens = &all[..all.len() / n_ctx * n_ctx];
        let n_vocab = self.model.config.n_vocab;
        if let Some(out) = base_out.as_mut() {
            LogitsHeader { n_ctx, n_vocab, tokens: tokens.to_vec() }.write(out)?;
        }
        let mut nll = Nll::default();
        let mut chunk_ppl = Vec::new();
        let mut row_bytes = Vec::new();
        self.score_chunks(tokens, n_ctx, |event| {
            let (logits, target) = match event {
                Scored::Row { logits, target } => (logits, target),
                Scored::ChunkDone(ci) => {
                    chunk_ppl.push(nll.ppl());
                    on_chunk(ci, nll.ppl());
                    return Ok(());
                }
            };
            let v = match base_out.as_mut() {
                Some(out) => {
                    row_bytes.clear();
                    let v = encode_row(logits, target, &mut row_bytes);
                    out.write_all(&row_bytes)
                        .map_err(|e| EngineError::Invalid(format!("writing the logits file: {e}")))?;
                    v
                }
                None => -log_softmax_at(logits, target),
            };
            nll.add(v);
            Ok(())
        })?;
        let n_chunks = tokens.len() / n_ctx;
        Ok(Perplexity { ppl: nll.ppl(), ppl_std: nll.ppl_std(), n_ctx, n_chunks, n_tokens: all.len(), chunk_ppl })
    }

    /// Evaluates each chunk of `tokens` and tells `on` about every scored position (the second
    /// half of the chunk), then that the chunk is done.
    pub(crate) fn score_chunks(
        &self,
        tokens: &[u32],
        n_ctx: usize,
        mut on: impl FnMut(Scored) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let first = n_ctx / 2;
        let bos = self.tokenizer.add_bos().then(|| self.tokenizer.bos()).flatten();
        let n_vocab = self.model.config.n_vocab;
        let mut exec = self.executor(n_ctx, 1)?;
        for (ci, chunk) in tokens.chunks_exact(n_ctx).enumerate() {
            let mut chunk = chunk.to_vec();
            if let Some(b) = bos {
                chunk[0] = b;
            }
            exec.truncate(0, 0);
            exec.forward(&Batch::sequence(&chunk, 0, 0, first))?;
            for start in (0..exec.n_outputs()).step_by(LOGIT_ROWS) {
                let rows = start..(start + LOGIT_ROWS).min(exec.n_outputs());
                let logits = exec.logits(rows.clone())?;
                for (r, logits) in logits.chunks_exact(n_vocab).enumerate() {
                    let pos = first + rows.start + r;
                    if pos + 1 >= n_ctx {
                        break;
                    }
                    on(Scored::Row { logits, target: chunk[pos + 1] as usize })?;
                }
            }
            on(Scored::ChunkDone(ci))?;
        }
        Ok(())
    }
}

/// log softmax(logits)[target], with the sums in f64 as llama-perplexity does.
pub(crate) fn log_softmax_at(logits: &[f32], target: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    (logits[target] - max) as f64 - sum.ln()
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_softmax_of_uniform_is_minus_log_n() {
        let v = super::log_softmax_at(&[0.5; 8], 3);
        assert!((v + 8f64.ln()).abs() < 1e-12);
    }
}

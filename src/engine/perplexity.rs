//! Perplexity exactly as `llama-perplexity` computes it: the text (with BOS, special tokens not
//! parsed) is cut into chunks of `n_ctx` tokens, each chunk's first token is replaced by BOS,
//! each chunk is evaluated from an empty cache, and only its second half is scored. As with
//! llama-perplexity's `-b`, the chunks that fit in a batch of `n_batch` tokens are evaluated
//! together, each as its own sequence (one forward pass for several chunks).
//! `kl_divergence` scores the same way against a base model's log-probabilities.

use std::io::Write;

use serde::Serialize;

use super::kl_divergence::{encode_row, LogitsHeader};
use super::{Engine, EngineError};
use crate::backend::Batch;

/// Bytes of logits computed at once: 64 rows of a 262k vocabulary. Batches of rows amortise
/// the output matrix's pass (a CPU batch GEMM rebuilds its weight panels per call).
const LOGITS_BYTES: usize = 64 << 20;

/// Rows of logits computed at once for a vocabulary of `n_vocab`.
fn logit_rows(n_vocab: usize) -> usize {
    (LOGITS_BYTES / (4 * n_vocab.max(1))).clamp(16, 512)
}

/// Tokens per forward pass when scoring, as llama-perplexity's `-b` default.
pub const DEFAULT_BATCH: usize = 2048;

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
        n_batch: usize,
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
        self.score_chunks(tokens, n_ctx, n_batch, |event| {
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
    /// half of the chunk), then that the chunk is done, chunk after chunk. The chunks go
    /// `n_batch / n_ctx` (at least one) to a forward pass, chunk i of a pass as sequence i.
    pub(crate) fn score_chunks(
        &self,
        tokens: &[u32],
        n_ctx: usize,
        n_batch: usize,
        mut on: impl FnMut(Scored) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let first = n_ctx / 2;
        let scored = n_ctx - first;
        let bos = self.tokenizer.add_bos().then(|| self.tokenizer.bos()).flatten();
        let n_vocab = self.model.config.n_vocab;
        let n_chunks = tokens.len() / n_ctx;
        let n_seq = (n_batch / n_ctx).clamp(1, n_chunks.max(1));
        let mut exec = self.executor(n_ctx, n_seq)?;
        for (pass, chunks) in tokens[..n_chunks * n_ctx].chunks(n_seq * n_ctx).enumerate() {
            let mut batch = Batch::new();
            for (seq, chunk) in chunks.chunks_exact(n_ctx).enumerate() {
                exec.truncate(seq, 0);
                for (pos, &token) in chunk.iter().enumerate() {
                    let token = if pos == 0 { bos.unwrap_or(token) } else { token };
                    batch.push(token, pos, seq, pos >= first);
                }
            }
            exec.forward(&batch)?;
            let step = logit_rows(n_vocab);
            for (seq, chunk) in chunks.chunks_exact(n_ctx).enumerate() {
                for start in (0..scored).step_by(step) {
                    let end = (start + step).min(scored);
                    let logits = exec.logits(seq * scored + start..seq * scored + end)?;
                    for (r, logits) in logits.chunks_exact(n_vocab).enumerate() {
                        let pos = first + start + r;
                        if pos + 1 >= n_ctx {
                            break;
                        }
                        on(Scored::Row { logits, target: chunk[pos + 1] as usize })?;
                    }
                }
                on(Scored::ChunkDone(pass * n_seq + seq))?;
            }
        }
        Ok(())
    }
}

/// log softmax(logits)[target], with the sums in f64 as llama-perplexity does.
pub(crate) fn log_softmax_at(logits: &[f32], target: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // f32 exponentials summed in f64, as llama-perplexity does (`expf`, a double sum).
    let sum: f64 = logits.iter().map(|&l| f64::from((l - max).exp())).sum();
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

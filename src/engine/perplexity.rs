//! Perplexity exactly as `llama-perplexity` computes it: the text (with BOS, special tokens not
//! parsed) is cut into chunks of `n_ctx` tokens, each chunk's first token is replaced by BOS,
//! each chunk is evaluated from an empty cache, and only its second half is scored.

use serde::Serialize;

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

impl Engine {
    pub fn perplexity(
        &self,
        text: &str,
        n_ctx: usize,
        mut on_chunk: impl FnMut(usize, f64) + Send,
    ) -> Result<Perplexity, EngineError> {
        if n_ctx < 4 {
            return Err(EngineError::Invalid(format!("perplexity needs a context of at least 4 tokens, got {n_ctx}")));
        }
        let tokens = self.tokenizer.encode(text, true, false);
        let n_chunks = tokens.len() / n_ctx;
        if n_chunks == 0 {
            return Err(EngineError::Invalid(format!(
                "the text has {} tokens, fewer than one context of {n_ctx}",
                tokens.len()
            )));
        }
        let first = n_ctx / 2;
        let bos = self.tokenizer.add_bos().then(|| self.tokenizer.bos()).flatten();
        let mut exec = self.executor(n_ctx, 1)?;
        let (mut nll, mut nll2, mut count) = (0.0f64, 0.0f64, 0usize);
        let mut chunk_ppl = Vec::with_capacity(n_chunks);
        for ci in 0..n_chunks {
            let mut chunk = tokens[ci * n_ctx..(ci + 1) * n_ctx].to_vec();
            if let Some(b) = bos {
                chunk[0] = b;
            }
            exec.truncate(0, 0);
            exec.forward(&Batch::sequence(&chunk, 0, 0, first))?;
            for start in (0..exec.n_outputs()).step_by(LOGIT_ROWS) {
                let rows = start..(start + LOGIT_ROWS).min(exec.n_outputs());
                let logits = exec.logits(rows.clone())?;
                for (r, row) in logits.chunks_exact(self.model.config.n_vocab).enumerate() {
                    let pos = first + rows.start + r;
                    if pos + 1 >= n_ctx {
                        break;
                    }
                    let v = -log_softmax_at(row, chunk[pos + 1] as usize);
                    nll += v;
                    nll2 += v * v;
                    count += 1;
                }
            }
            let running = (nll / count as f64).exp();
            chunk_ppl.push(running);
            on_chunk(ci, running);
        }
        let mean = nll / count as f64;
        let ppl = mean.exp();
        let var = nll2 / count as f64 - mean * mean;
        let ppl_std = if var > 0.0 && count > 1 { (var / (count - 1) as f64).sqrt() * ppl } else { 0.0 };
        Ok(Perplexity { ppl, ppl_std, n_ctx, n_chunks, n_tokens: tokens.len(), chunk_ppl })
    }
}

/// log softmax(logits)[target], with the sums in f64 as llama-perplexity does.
fn log_softmax_at(logits: &[f32], target: usize) -> f64 {
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

//! Comparing a model with a base model by KL divergence, as `llama-perplexity
//! --kl-divergence` does: the base run writes, per scored position, its log-probabilities
//! quantized to 16 bits (llama-perplexity's file format, so either program can read the other's
//! file); the compared run reads them back and accumulates KL divergence, top-token agreement,
//! the change in probability of the right token, and both perplexities.

use std::io::{Read, Write};

use serde::Serialize;

use super::perplexity::{Nll, Scored};
use super::{Engine, EngineError};

const MAGIC: &[u8; 8] = b"_logits_";

fn io_error(what: &str) -> impl Fn(std::io::Error) -> EngineError + '_ {
    move |e| EngineError::Invalid(format!("{what} the logits file: {e}"))
}

/// u16 per vocabulary entry plus the row's scale and minimum (two f32), padded as llama.cpp pads.
fn row_u16s(n_vocab: usize) -> usize {
    2 * n_vocab.div_ceil(2) + 4
}

/// The file's header: context, vocabulary, and every token it scored.
pub struct LogitsHeader {
    pub n_ctx: usize,
    pub n_vocab: usize,
    pub tokens: Vec<u32>,
}

impl LogitsHeader {
    pub fn write(&self, out: &mut dyn Write) -> Result<(), EngineError> {
        let mut b = Vec::with_capacity(20 + 4 * self.tokens.len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&(self.n_ctx as u32).to_le_bytes());
        b.extend_from_slice(&(self.n_vocab as i32).to_le_bytes());
        b.extend_from_slice(&((self.tokens.len() / self.n_ctx) as i32).to_le_bytes());
        self.tokens.iter().for_each(|t| b.extend_from_slice(&t.to_le_bytes()));
        out.write_all(&b).map_err(io_error("writing"))
    }

    pub fn read(input: &mut dyn Read) -> Result<Self, EngineError> {
        let mut head = [0u8; 20];
        input.read_exact(&mut head).map_err(io_error("reading"))?;
        if &head[..8] != MAGIC {
            return Err(EngineError::Invalid("not a logits file (llama-perplexity --kl-divergence-base)".into()));
        }
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]) as usize;
        let (n_ctx, n_vocab, n_chunk) = (word(8), word(12), word(16));
        if n_ctx < 4 || n_vocab == 0 || n_chunk == 0 || n_ctx.saturating_mul(n_chunk) > 1 << 28 {
            return Err(EngineError::Invalid(format!(
                "the logits file's header is implausible: n_ctx {n_ctx}, n_vocab {n_vocab}, {n_chunk} chunks"
            )));
        }
        let mut raw = vec![0u8; 4 * n_ctx * n_chunk];
        input.read_exact(&mut raw).map_err(io_error("reading the tokens of"))?;
        let tokens = raw.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(LogitsHeader { n_ctx, n_vocab, tokens })
    }
}

/// llama.cpp's `nearest_int`: rounding to the nearest integer through the f32 magic number.
fn nearest_int(v: f32) -> u16 {
    let bits = (v + 12_582_912.0).to_bits() as i32;
    ((bits & 0x007f_ffff) - 0x0040_0000) as u16
}

/// Appends one row of llama-perplexity's log-probability file to `out` and returns the
/// row's negative log-likelihood of `target`.
pub fn encode_row(logits: &[f32], target: usize, out: &mut Vec<u8>) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let min = logits.iter().copied().fold(f32::INFINITY, f32::min).max(max - 16.0);
    let sum_exp: f64 = logits.iter().map(|&l| (l - max).exp() as f64).sum();
    let log_sum_exp = sum_exp.ln() as f32;
    let min_log_prob = min - max - log_sum_exp;
    let scale = (max - min) / 65535.0;
    out.extend_from_slice(&scale.to_le_bytes());
    out.extend_from_slice(&min_log_prob.to_le_bytes());
    for &l in logits {
        let q = if scale != 0.0 && l > min { nearest_int((l - min) / scale) } else { 0 };
        out.extend_from_slice(&q.to_le_bytes());
    }
    out.resize(out.len() + 2 * (row_u16s(logits.len()) - 4 - logits.len()), 0);
    (max + log_sum_exp - logits[target]) as f64
}

/// What `--kl-divergence` reports (llama-perplexity's statistics).
#[derive(Debug, Clone, Serialize)]
pub struct KlDivergence {
    pub ppl: f64,
    pub ppl_base: f64,
    /// Mean of ln(PPL(Q)/PPL(base)).
    pub ln_ppl_ratio: f64,
    pub kld_mean: f64,
    pub kld_mean_err: f64,
    pub kld_max: f64,
    pub kld_p99_9: f64,
    pub kld_p99: f64,
    pub kld_median: f64,
    /// How often both runs put the same token on top, in %.
    pub same_top_pct: f64,
    /// RMS of the change in probability of the right token, in %.
    pub delta_p_rms_pct: f64,
    pub n_positions: usize,
}

#[derive(Default)]
struct Sums {
    nll: Nll,
    nll_base: Nll,
    kld: Vec<f64>,
    p_diff2: f64,
    same_top: usize,
}

impl Sums {
    /// llama.cpp's per-row statistics against one base row.
    fn add(&mut self, logits: &[f32], base: &[u8], target: usize) {
        let f = |i: usize| f32::from_le_bytes([base[i], base[i + 1], base[i + 2], base[i + 3]]);
        let (scale, min_log_prob) = (f(0), f(4));
        let q = |i: usize| u16::from_le_bytes([base[8 + 2 * i], base[9 + 2 * i]]) as f32;
        let (imax, &max) =
            logits.iter().enumerate().fold((0, &f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
        let sum_exp: f64 = logits.iter().map(|&l| (l - max).exp() as f64).sum();
        let log_z = max + sum_exp.ln() as f32;
        let nll = log_z - logits[target];
        let nll_base = -(scale * q(target) + min_log_prob);
        self.nll.add(nll as f64);
        self.nll_base.add(nll_base as f64);
        let (mut kld, mut imax_base, mut best) = (0.0f64, 0, f32::NEG_INFINITY);
        for (i, &l) in logits.iter().enumerate() {
            let lp_base = scale * q(i) + min_log_prob;
            if lp_base > best {
                (best, imax_base) = (lp_base, i);
            }
            if lp_base > -16.0 {
                kld += (lp_base.exp() * (lp_base - (l - log_z))) as f64;
            }
        }
        self.kld.push(kld);
        self.same_top += usize::from(imax == imax_base);
        let p_diff = (-nll).exp() - (-nll_base).exp();
        self.p_diff2 += (p_diff * p_diff) as f64;
    }

    fn finish(mut self) -> KlDivergence {
        let n = self.kld.len();
        let mean = self.kld.iter().sum::<f64>() / n as f64;
        let var = self.kld.iter().map(|k| (k - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
        self.kld.sort_by(f64::total_cmp);
        let pct = |p: f64| self.kld[((n - 1) as f64 * p).round() as usize];
        KlDivergence {
            ppl: self.nll.ppl(),
            ppl_base: self.nll_base.ppl(),
            ln_ppl_ratio: self.nll.ppl().ln() - self.nll_base.ppl().ln(),
            kld_mean: mean,
            kld_mean_err: (var / n as f64).sqrt(),
            kld_max: pct(1.0),
            kld_p99_9: pct(0.999),
            kld_p99: pct(0.99),
            kld_median: pct(0.5),
            same_top_pct: 100.0 * self.same_top as f64 / n as f64,
            delta_p_rms_pct: 100.0 * (self.p_diff2 / n as f64).sqrt(),
            n_positions: n,
        }
    }
}

impl Engine {
    /// Scores the tokens of a base run's logits file and compares with its log-probabilities
    /// (`n_batch`: tokens per forward pass, as for `perplexity`).
    pub fn kl_divergence(
        &self,
        base: &mut dyn Read,
        n_batch: usize,
        mut on_chunk: impl FnMut(usize, f64),
    ) -> Result<KlDivergence, EngineError> {
        let header = LogitsHeader::read(base)?;
        let n_vocab = self.model.config.n_vocab;
        if header.n_vocab != n_vocab {
            return Err(EngineError::Invalid(format!(
                "the logits file has a vocabulary of {}, the model {n_vocab}",
                header.n_vocab
            )));
        }
        let mut sums = Sums::default();
        let mut row = vec![0u8; 2 * row_u16s(n_vocab)];
        self.score_chunks(&header.tokens, header.n_ctx, n_batch, |event| {
            match event {
                Scored::Row { logits, target } => {
                    base.read_exact(&mut row).map_err(io_error("reading the log-probabilities of"))?;
                    sums.add(logits, &row, target);
                }
                Scored::ChunkDone(ci) => on_chunk(ci, sums.kld.iter().sum::<f64>() / sums.kld.len().max(1) as f64),
            }
            Ok(())
        })?;
        Ok(sums.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_decodes_to_its_log_probabilities() {
        let logits: Vec<f32> = (0..1001).map(|i| ((i * 37 % 101) as f32) * 0.1 - 3.0).collect();
        let mut row = Vec::new();
        let nll = encode_row(&logits, 17, &mut row);
        assert_eq!(row.len(), 2 * row_u16s(logits.len()));
        let want = -super::super::perplexity::log_softmax_at(&logits, 17);
        assert!((nll - want).abs() < 1e-4, "{nll} vs {want}");
        // The same logits against their own file: no divergence, same top token.
        let mut s = Sums::default();
        s.add(&logits, &row, 17);
        let r = s.finish();
        // Only the 16-bit quantization of the base row separates the two.
        assert!(r.kld_mean.abs() < 1e-4, "{}", r.kld_mean);
        assert_eq!(r.same_top_pct, 100.0);
    }

    #[test]
    fn the_header_round_trips_and_rejects_other_files() {
        let h = LogitsHeader { n_ctx: 8, n_vocab: 100, tokens: (0..16).collect() };
        let mut b = Vec::new();
        h.write(&mut b).unwrap();
        let back = LogitsHeader::read(&mut &b[..]).unwrap();
        assert_eq!((back.n_ctx, back.n_vocab, back.tokens), (8, 100, (0..16).collect::<Vec<u32>>()));
        assert!(LogitsHeader::read(&mut &b"GGUF and more bytes..."[..]).is_err());
    }
}

//! Token sampling in llama.cpp's default chain order: penalties → top-k → top-p → min-p →
//! temperature → draw. Temperature ≤ 0 is greedy (argmax). Deterministic for a given seed.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use crate::backend::cpu::sample::{argmax, pick, SamplerConfig};

pub struct Sampler {
    cfg: SamplerConfig,
    rng: StdRng,
    history: Vec<u32>,
}

impl Sampler {
    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    pub fn new(cfg: SamplerConfig) -> Self {
        let rng = StdRng::seed_from_u64(cfg.seed);
        Sampler { cfg, rng, history: Vec::new() }
    }

    /// Records tokens (prompt or generated) for the repetition penalties.
    pub fn accept(&mut self, token: u32) {
        self.history.push(token);
    }

    /// The uniform of the next draw, for a device that samples with the same config (no
    /// penalties); the draws come in the same order as `sample`'s.
    pub fn draw(&mut self) -> f32 {
        self.rng.gen()
    }

    /// Picks the next token from `logits` (which it may modify).
    pub fn sample(&mut self, logits: &mut [f32]) -> u32 {
        self.apply_penalties(logits);
        if self.cfg.temperature <= 0.0 {
            return argmax(logits);
        }
        let r: f32 = self.rng.gen();
        pick(logits, &self.cfg, r)
    }

    fn apply_penalties(&self, logits: &mut [f32]) {
        let c = &self.cfg;
        if c.repeat_penalty == 1.0 && c.presence_penalty == 0.0 && c.frequency_penalty == 0.0 {
            return;
        }
        let start = self.history.len().saturating_sub(c.penalty_last_n);
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for &t in &self.history[start..] {
            *counts.entry(t).or_default() += 1;
        }
        for (&t, &n) in &counts {
            let Some(l) = logits.get_mut(t as usize) else { continue };
            *l = if *l <= 0.0 { *l * c.repeat_penalty } else { *l / c.repeat_penalty };
            *l -= n as f32 * c.frequency_penalty + c.presence_penalty;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        (0..100).map(|i| ((i * 37 % 100) as f32) / 10.0).collect()
    }

    #[test]
    fn greedy_is_argmax_with_lowest_index_on_ties() {
        let mut s = Sampler::new(SamplerConfig::greedy());
        assert_eq!(s.sample(&mut logits()), argmax(&logits()));
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }

    #[test]
    fn same_seed_same_tokens_other_seed_differs() {
        let run = |seed| {
            let mut s = Sampler::new(SamplerConfig {
                temperature: 1.5,
                top_k: 0,
                top_p: 1.0,
                min_p: 0.0,
                seed,
                ..Default::default()
            });
            (0..50).map(|_| s.sample(&mut logits())).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut s = Sampler::new(SamplerConfig { temperature: 1.0, top_k: 1, ..Default::default() });
        for _ in 0..20 {
            assert_eq!(s.sample(&mut logits()), argmax(&logits()));
        }
    }

    #[test]
    fn top_p_and_min_p_restrict_the_draw() {
        let mut l = vec![0.0f32; 10];
        l[3] = 10.0;
        l[4] = 9.0;
        let mut s =
            Sampler::new(SamplerConfig { temperature: 1.0, top_k: 0, top_p: 0.5, min_p: 0.0, ..Default::default() });
        assert!((0..50).all(|_| s.sample(&mut l.clone()) == 3));
        let mut s =
            Sampler::new(SamplerConfig { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.2, ..Default::default() });
        assert!((0..50).all(|_| [3, 4].contains(&s.sample(&mut l.clone()))));
    }

    #[test]
    fn penalties_demote_repeated_tokens() {
        let mut s =
            Sampler::new(SamplerConfig { repeat_penalty: 100.0, presence_penalty: 1.0, ..SamplerConfig::greedy() });
        let mut l = vec![1.0, 5.0, 4.9];
        s.accept(1);
        assert_eq!(s.sample(&mut l), 2);
    }
}

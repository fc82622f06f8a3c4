//! `llama-bench`-style measurements: pp N (one batch of N prompt tokens) and tg N (N tokens
//! generated one at a time), each repeated, reported as mean ± stddev tokens per second, from
//! an empty cache or at a depth (`-d`: the cache already holds that many positions).

use std::time::Instant;

use serde::Serialize;

use super::{Engine, EngineError};
use crate::backend::{Batch, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchTest {
    Prompt(usize),
    Generate(usize),
}

impl BenchTest {
    pub fn name(&self) -> String {
        match self {
            BenchTest::Prompt(n) => format!("pp{n}"),
            BenchTest::Generate(n) => format!("tg{n}"),
        }
    }

    /// The name with its depth, as llama-bench writes it (`pp512 @ d4096`).
    pub fn name_at(&self, depth: usize) -> String {
        match depth {
            0 => self.name(),
            d => format!("{} @ d{d}", self.name()),
        }
    }

    fn n_tokens(&self) -> usize {
        match *self {
            BenchTest::Prompt(n) | BenchTest::Generate(n) => n,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub n_prompt: usize,
    pub n_gen: usize,
    pub n_depth: usize,
    pub n_threads: usize,
    pub avg_ts: f64,
    pub stddev_ts: f64,
    pub samples_ts: Vec<f64>,
    pub samples_ns: Vec<u64>,
}

impl Engine {
    /// Runs one test `reps` times after an untimed warm-up, each time with the cache holding
    /// `depth` positions (computed once, untimed, and kept).
    pub fn bench(&self, test: BenchTest, depth: usize, reps: usize) -> Result<BenchResult, EngineError> {
        let n = test.n_tokens();
        if n == 0 {
            return Err(EngineError::Invalid(format!("{}: need at least one token", test.name())));
        }
        let mut exec = self.executor(depth + n, 1)?;
        if depth > 0 {
            let context = self.bench_tokens(depth);
            exec.forward(&Batch::sequence(&context, 0, 0, depth - 1))?;
        }
        let tokens = self.bench_tokens(n);
        run_once(exec.as_mut(), test, &tokens, depth)?;
        let mut samples_ns = Vec::with_capacity(reps);
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            run_once(exec.as_mut(), test, &tokens, depth)?;
            samples_ns.push(t.elapsed().as_nanos().max(1) as u64);
        }
        let samples_ts: Vec<f64> = samples_ns.iter().map(|&ns| n as f64 * 1e9 / ns as f64).collect();
        let avg = samples_ts.iter().sum::<f64>() / samples_ts.len() as f64;
        let var = if samples_ts.len() > 1 {
            samples_ts.iter().map(|s| (s - avg).powi(2)).sum::<f64>() / (samples_ts.len() - 1) as f64
        } else {
            0.0
        };
        let (n_prompt, n_gen) = match test {
            BenchTest::Prompt(n) => (n, 0),
            BenchTest::Generate(n) => (0, n),
        };
        Ok(BenchResult {
            n_prompt,
            n_gen,
            n_depth: depth,
            n_threads: self.threads(),
            avg_ts: avg,
            stddev_ts: var.sqrt(),
            samples_ts,
            samples_ns,
        })
    }

    /// `n` random token ids, as llama-bench uses: any valid ids measure the same work.
    fn bench_tokens(&self, n: usize) -> Vec<u32> {
        let n_vocab = self.model.config.n_vocab as u64;
        (0..n as u64).map(|i| ((i * 2_654_435_761 + 12_345) % n_vocab) as u32).collect()
    }
}

/// One test on a cache cut back to its first `depth` positions. Each step ends with the next
/// token known on the host, as in generation: the prompt's last logits, or each generated
/// token's argmax.
fn run_once(exec: &mut dyn Executor, test: BenchTest, tokens: &[u32], depth: usize) -> Result<(), EngineError> {
    exec.truncate(0, depth);
    match test {
        BenchTest::Prompt(_) => {
            exec.forward(&Batch::sequence(tokens, depth, 0, tokens.len() - 1))?;
            exec.greedy()?;
        }
        BenchTest::Generate(_) => {
            for (i, &t) in tokens.iter().enumerate() {
                exec.forward(&Batch::sequence(&[t], depth + i, 0, 0))?;
                exec.greedy()?;
            }
        }
    }
    Ok(())
}

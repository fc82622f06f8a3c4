//! `llama-bench`-style measurements: pp N (one batch of N prompt tokens) and tg N (N tokens
//! generated one at a time), each repeated, reported as mean ± stddev tokens per second.

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
    pub n_threads: usize,
    pub avg_ts: f64,
    pub stddev_ts: f64,
    pub samples_ts: Vec<f64>,
    pub samples_ns: Vec<u64>,
}

impl Engine {
    /// Runs one test `reps` times after an untimed warm-up.
    pub fn bench(&self, test: BenchTest, reps: usize) -> Result<BenchResult, EngineError> {
        let n = test.n_tokens();
        if n == 0 {
            return Err(EngineError::Invalid(format!("{}: need at least one token", test.name())));
        }
        // Random tokens as llama-bench uses; any valid ids measure the same work.
        let n_vocab = self.model.config.n_vocab as u64;
        let tokens: Vec<u32> = (0..n as u64).map(|i| ((i * 2_654_435_761 + 12_345) % n_vocab) as u32).collect();
        {
            let mut exec = self.executor(n, 1)?;
            run_once(exec.as_mut(), test, &tokens)?;
            let mut samples_ns = Vec::with_capacity(reps);
            for _ in 0..reps.max(1) {
                let t = Instant::now();
                run_once(exec.as_mut(), test, &tokens)?;
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
                n_threads: self.threads(),
                avg_ts: avg,
                stddev_ts: var.sqrt(),
                samples_ts,
                samples_ns,
            })
        }
    }
}

/// One test from an empty cache. Each step ends with the next token known on the host, as in
/// generation: the prompt's last logits, or each generated token's argmax.
fn run_once(exec: &mut dyn Executor, test: BenchTest, tokens: &[u32]) -> Result<(), EngineError> {
    exec.truncate(0, 0);
    match test {
        BenchTest::Prompt(_) => {
            exec.forward(&Batch::sequence(tokens, 0, 0, tokens.len() - 1))?;
            exec.greedy()?;
        }
        BenchTest::Generate(_) => {
            for (pos, &t) in tokens.iter().enumerate() {
                exec.forward(&Batch::sequence(&[t], pos, 0, 0))?;
                exec.greedy()?;
            }
        }
    }
    Ok(())
}

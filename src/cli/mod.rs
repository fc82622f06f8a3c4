//! Subcommands. Each file parses its flags, calls the library and formats the result; errors
//! get their context here, at the edge.

mod bench;
mod bench_kernels;
mod bench_serve;
mod compile;
mod devices;
mod generate;
mod gpu;
mod inspect;
mod kernels;
mod perplexity;
mod serve;
mod synth;
mod test_kernels;
mod tokenize;
mod tune;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rocmforge", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("ROCMFORGE_BUILD_COMMIT"), ")"), about = "LLM inference for GGUF models (CPU reference backend; AMD GPU kernels compiled ahead of time)")]
pub struct Cli {
    /// Debug logging (RUST_LOG overrides).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text from a prompt.
    Generate(generate::Args),
    /// Perplexity of a text file, as llama-perplexity computes it.
    Perplexity(perplexity::Args),
    /// An OpenAI-compatible HTTP server with continuous batching.
    Serve(serve::Args),
    /// Drive an OpenAI-compatible server with concurrent streaming clients: throughput, TTFT, ITL.
    BenchServe(bench_serve::Args),
    /// Prompt-processing and generation speed, like llama-bench.
    Bench(bench::Args),
    /// Print a GGUF file's metadata, hyperparameters and tensors.
    Inspect(inspect::Args),
    /// Tokenize text, like llama-tokenize.
    Tokenize(tokenize::Args),
    /// Download the default model into the cache and print its path.
    Fetch,
    /// Compile the GPU kernel bundle for an architecture (gfx1100, gfx942, gfx950, sm_90).
    Compile(compile::Args),
    /// List and verify a kernel bundle.
    Kernels(kernels::Args),
    /// Run every kernel variant of a bundle on the GPU against the CPU reference.
    TestKernels(test_kernels::Args),
    /// List the devices found (CPU, HIP, CUDA), and why a GPU is not usable.
    Devices,
    /// Time the GPU kernels (graph replays timed with events): GB/s and TFLOP/s.
    BenchKernels(bench_kernels::Args),
    /// Write a random-weight llama model of a real shape (llama-1b, llama-8b), quantized, to
    /// measure engines side by side.
    Synth(synth::Args),
    /// Time the tunable kernels at a model's shapes on this GPU and record the fastest in the bundle.
    Tune(tune::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate(a) => generate::run(a),
        Command::Perplexity(a) => perplexity::run(a),
        Command::Serve(a) => serve::run(a),
        Command::BenchServe(a) => bench_serve::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Tokenize(a) => tokenize::run(a),
        Command::Compile(a) => compile::run(a),
        Command::Kernels(a) => kernels::run(a),
        Command::TestKernels(a) => test_kernels::run(a),
        Command::Devices => devices::run(),
        Command::BenchKernels(a) => bench_kernels::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Tune(a) => tune::run(a),
        Command::Fetch => {
            println!("{}", default_model()?.display());
            Ok(())
        }
    }
}

/// `-m FILE`, or the default model (fetched on first use).
fn model_path(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match arg {
        Some(p) => Ok(p),
        None => default_model(),
    }
}

fn default_model() -> anyhow::Result<PathBuf> {
    rocmforge::fetch::default_model()
        .context("fetching the default model (gemma3-270m-q4_k_m); pass -m FILE to use a local GGUF")
}

/// `-m`, `--device` and `-t`: what the commands that run a model share.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// GGUF model file (default: Gemma 3 270M Q4_K_M, fetched on first use).
    #[arg(short, long)]
    pub model: Option<PathBuf>,
    /// cpu, cuda[:N], hip[:N], or auto: the first GPU whose kernel bundle is present or can be
    /// compiled, else the CPU. sim[:N] is the CPU's kernel simulator with gfx1100's, gfx942's
    /// or gfx950's kernels (slow: for checking them without the GPU).
    #[arg(long, default_value = "auto", value_parser = |s: &str| s.parse::<rocmforge::backend::DeviceSpec>())]
    pub device: rocmforge::backend::DeviceSpec,
    /// CPU worker threads (0: all cores).
    #[arg(short, long, default_value_t = 0)]
    pub threads: usize,
}

impl ModelArgs {
    /// The model file: `-m`, or the default model (fetched on first use).
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        model_path(self.model.clone())
    }

    /// Loads the model on the device and says on stderr which device runs it.
    pub fn load(&self) -> anyhow::Result<rocmforge::engine::Engine> {
        let (path, device) = (self.path()?, self.device);
        let engine = rocmforge::engine::Engine::load_on(&path, self.threads, device)
            .with_context(|| format!("loading {} on {device}", path.display()))?;
        eprintln!("{}", engine.device_note);
        Ok(engine)
    }
}

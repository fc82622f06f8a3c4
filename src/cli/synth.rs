//! `rocmforge synth`: a random-weight llama model of a real shape, quantized (see `tools::synth`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use rocmforge::gguf::Gguf;

use crate::tools::synth::{write_model, Mix, SHAPES};

#[derive(ClapArgs)]
pub struct Args {
    /// The shape: llama-1b, llama-8b or tiny.
    #[arg(long, default_value = "tiny")]
    shape: String,
    /// The quantization: q4_k_m or q3_k_m (llama-quantize's mixes), or one format for every matrix (q4_0,
    /// q8_0, q4_k, ...); the output matrix is Q6_K either way, as llama-quantize makes it.
    #[arg(long = "type", default_value = "q4_0")]
    ty: String,
    /// A GGUF holding the tokenizer to copy (llama.cpp's models/ggml-vocab-*.gguf).
    #[arg(long)]
    vocab: PathBuf,
    /// Where to write the model.
    #[arg(short, long)]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let known = || SHAPES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let (name, shape) = SHAPES
        .iter()
        .find(|(n, _)| *n == args.shape)
        .with_context(|| format!("unknown shape {:?} (known: {})", args.shape, known()))?;
    let mix = Mix::parse(&args.ty).with_context(|| format!("unknown quantization {:?}", args.ty))?;
    let vocab = Gguf::open(&args.vocab).with_context(|| format!("reading the vocabulary {}", args.vocab.display()))?;
    eprintln!("synth: writing {name} ({}) to {}", args.ty, args.out.display());
    write_model(shape, mix, &vocab, name, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    let size = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    eprintln!("synth: {} ({:.2} GB)", args.out.display(), size as f64 / 1e9);
    Ok(())
}

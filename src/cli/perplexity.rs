use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    device: super::DeviceArg,
    #[arg(short, long)]
    model: Option<PathBuf>,
    /// Text file to score.
    #[arg(short, long)]
    file: PathBuf,
    /// Tokens per chunk.
    #[arg(short = 'c', long = "ctx-size", default_value_t = 512)]
    ctx_size: usize,
    #[arg(short, long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON object instead of llama-perplexity's text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let mut text = String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", a.file.display()))?;
    // llama.cpp's `-f` drops one trailing newline; so do we, to score the same tokens.
    if text.ends_with('\n') {
        text.pop();
    }
    let engine = super::load_engine(a.model, a.threads, a.device.device)?;
    let n_chunks = engine.tokenizer.encode(&text, true, false).len() / a.ctx_size.max(1);
    let bar = rocmforge::progress::count_bar(n_chunks as u64, "chunks");
    let json = a.json;
    let result = engine.perplexity(&text, a.ctx_size, |i, running| {
        bar.inc(1);
        if !json {
            bar.suspend(|| eprint!("[{}]{running:.4},", i + 1));
        }
    })?;
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        eprintln!();
        println!(
            "Final estimate: PPL = {:.4} +/- {:.5} ({} chunks of {} tokens, {} tokens in all)",
            result.ppl, result.ppl_std, result.n_chunks, result.n_ctx, result.n_tokens
        );
    }
    Ok(())
}

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use rocmforge::engine::perplexity::DEFAULT_BATCH;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: super::ModelArgs,
    /// Text file to score (not needed with --kl-divergence, which scores the base file's tokens).
    #[arg(short, long, required_unless_present = "kl_divergence")]
    file: Option<PathBuf>,
    /// Tokens per chunk.
    #[arg(short = 'c', long = "ctx-size", default_value_t = 512)]
    ctx_size: usize,
    /// Tokens per forward pass: the chunks that fit are evaluated together, each as its own
    /// sequence (llama-perplexity's -b).
    #[arg(short = 'b', long = "batch-size", default_value_t = DEFAULT_BATCH, value_parser = at_least_one)]
    batch_size: usize,
    /// The base run's log-probabilities (llama-perplexity's format): written here, or read
    /// with --kl-divergence.
    #[arg(long = "kl-divergence-base")]
    kl_divergence_base: Option<PathBuf>,
    /// Compare with the base file's log-probabilities: KL divergence, same top token, PPL ratio.
    #[arg(long = "kl-divergence", requires = "kl_divergence_base")]
    kl_divergence: bool,
    /// Print one JSON object instead of llama-perplexity's text.
    #[arg(long)]
    json: bool,
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("expected a whole number of tokens, at least 1; got {s:?}")),
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.kl_divergence {
        return kl_divergence(a);
    }
    let path = a.file.as_ref().context("give the text to score with -f FILE")?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut text = String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))?;
    // llama.cpp's `-f` drops one trailing newline; so do we, to score the same tokens.
    if text.ends_with('\n') {
        text.pop();
    }
    let engine = a.model.load()?;
    let n_chunks = engine.perplexity_tokens(&text, a.ctx_size)?.len() / a.ctx_size;
    let mut base_out = match &a.kl_divergence_base {
        Some(p) => Some(BufWriter::new(File::create(p).with_context(|| format!("creating {}", p.display()))?)),
        None => None,
    };
    let bar = rocmforge::progress::count_bar(n_chunks as u64, "chunks");
    let json = a.json;
    let result = engine.perplexity(
        &text,
        a.ctx_size,
        a.batch_size,
        base_out.as_mut().map(|w| w as &mut dyn Write),
        |i, running| {
            bar.inc(1);
            if !json {
                bar.suspend(|| eprint!("[{}]{running:.4},", i + 1));
            }
        },
    )?;
    bar.finish_and_clear();
    if let Some(mut w) = base_out {
        w.flush().context("writing the logits file")?;
    }
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

fn kl_divergence(a: Args) -> anyhow::Result<()> {
    let path = a.kl_divergence_base.as_ref().context("--kl-divergence needs --kl-divergence-base FILE")?;
    let mut base = BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let engine = a.model.load()?;
    let json = a.json;
    let r = engine.kl_divergence(&mut base, a.batch_size, |i, mean| {
        if !json {
            eprint!("[{}]{mean:.6},", i + 1);
        }
    })?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    eprintln!();
    println!("====== Perplexity statistics ======");
    println!("Mean PPL(Q)                   : {:10.6}", r.ppl);
    println!("Mean PPL(base)                : {:10.6}", r.ppl_base);
    println!("Mean ln(PPL(Q)/PPL(base))     : {:10.6}", r.ln_ppl_ratio);
    println!("Mean PPL(Q)/PPL(base)         : {:10.6}", r.ppl / r.ppl_base);
    println!("====== KL divergence statistics ======");
    println!("Mean    KLD: {:10.6} ± {:10.6}", r.kld_mean, r.kld_mean_err);
    println!("Maximum KLD: {:10.6}", r.kld_max);
    println!("99.9%   KLD: {:10.6}", r.kld_p99_9);
    println!("99.0%   KLD: {:10.6}", r.kld_p99);
    println!("Median  KLD: {:10.6}", r.kld_median);
    println!("====== Token probability statistics ======");
    println!("RMS Δp    : {:6.3} %", r.delta_p_rms_pct);
    println!("Same top p: {:6.3} %  ({} positions)", r.same_top_pct, r.n_positions);
    Ok(())
}

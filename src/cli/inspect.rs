use std::path::PathBuf;

use anyhow::Context;
use rocmforge::gguf::Gguf;
use rocmforge::model::ModelConfig;

#[derive(clap::Args)]
pub struct Args {
    /// GGUF file.
    file: PathBuf,
    /// List every tensor (default: the first 20 and a summary by type).
    #[arg(long)]
    all_tensors: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let g = Gguf::open(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    println!("file: {} ({} bytes, GGUF v{}, alignment {})", a.file.display(), g.file_size(), g.version, g.alignment);

    println!("\nmetadata ({} keys):", g.metadata().len());
    for (k, v) in g.metadata() {
        println!("  {k} = {v}");
    }

    println!("\nhyperparameters:");
    match ModelConfig::from_gguf(&g) {
        Ok(c) => {
            println!(
                "  arch {:?}, {} layers, embd {}, ff {}, heads {}/{} (kv), head dim {}, vocab {}, ctx {}",
                c.arch, c.n_layer, c.n_embd, c.n_ff, c.n_head, c.n_head_kv, c.head_dim, c.n_vocab, c.n_ctx_train
            );
            println!(
                "  rope {:?} base {} scale {} (n_rot {}), rms eps {}, sliding window {:?}",
                c.rope.kind, c.rope.freq_base, c.rope.freq_scale, c.rope.n_rot, c.rms_eps, c.sliding_window
            );
        }
        Err(e) => println!("  not runnable: {e}"),
    }

    let tensors = g.tensors();
    let total: u64 = tensors.iter().map(|t| t.n_bytes).sum();
    let params: u64 = tensors.iter().map(|t| t.n_elements).sum();
    println!(
        "\ntensors: {} ({:.2} M parameters, {:.2} MiB)",
        tensors.len(),
        params as f64 / 1e6,
        total as f64 / (1 << 20) as f64
    );
    let mut by_type: Vec<(String, usize, u64)> = Vec::new();
    for t in tensors {
        match by_type.iter_mut().find(|(n, _, _)| *n == t.ggml_type.name()) {
            Some(e) => {
                e.1 += 1;
                e.2 += t.n_bytes;
            }
            None => by_type.push((t.ggml_type.name().to_string(), 1, t.n_bytes)),
        }
    }
    for (name, n, bytes) in &by_type {
        println!("  {name:>8}: {n:4} tensors, {:.2} MiB", *bytes as f64 / (1 << 20) as f64);
    }
    let shown = if a.all_tensors { tensors.len() } else { tensors.len().min(20) };
    for t in &tensors[..shown] {
        println!("  {:40} {:>8} {:?} {} bytes", t.name, t.ggml_type.name(), t.dims, t.n_bytes);
    }
    if shown < tensors.len() {
        println!("  … {} more (--all-tensors)", tensors.len() - shown);
    }
    let unsupported: Vec<_> = tensors.iter().filter(|t| !t.ggml_type.is_supported()).collect();
    if !unsupported.is_empty() {
        println!("\nunsupported tensor types ({} tensors):", unsupported.len());
        for t in unsupported {
            println!("  {} ({})", t.name, t.ggml_type);
        }
    }
    Ok(())
}

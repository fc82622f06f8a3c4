//! `rocmforge tune`: the tunable kernels timed at a model's shapes on the GPU at hand, the
//! fastest variants recorded in the bundle's tuning table (see `tools::tune`), which the engine
//! reads when it loads the bundle.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args as ClapArgs;
use rocmforge::model::Model;

use super::gpu::GpuArgs;
use crate::tools::tune::{model_launches, tune};

#[derive(ClapArgs)]
pub struct Args {
    /// The model whose shapes to tune for (GGUF).
    #[arg(short, long)]
    model: PathBuf,
    #[command(flatten)]
    gpu: GpuArgs,
    /// Where to write the tuned bundle (default: over the bundle that was loaded).
    #[arg(short, long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = Model::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    let (path, bundle, kernels) = args.gpu.load()?;
    let launches = model_launches(&model);
    anyhow::ensure!(!launches.is_empty(), "the model has no matrix in a format the GPU kernels read");
    let device = kernels.gpu().describe();
    let bar = rocmforge::progress::count_bar(launches.len() as u64, "tune");
    let outcomes = tune(&kernels, &launches, &device, &|l| {
        bar.inc(1);
        tracing::info!("{l}");
    })?;
    bar.finish_and_clear();
    for o in &outcomes {
        println!("{}", o.launch);
        for (choice, us) in &o.times {
            let axes: Vec<String> = choice.values().iter().map(|(a, v)| format!("{a}={v}")).collect();
            let chosen = o.row.axes.iter().all(|(a, v)| choice.get(a) == *v);
            println!("  {:<20} {us:>9.2} µs{}", axes.join(" "), if chosen { "  <- chosen" } else { "" });
        }
        println!("  gain over the defaults: {:.1} %", 100.0 * (o.row.default_micros / o.row.micros - 1.0));
    }
    let tuned = bundle.with_tuning(outcomes.into_iter().map(|o| o.row).collect()).context("adding the tuning table")?;
    let out = args.out.unwrap_or(path);
    write_atomically(&out, &tuned.data)?;
    eprintln!("tune: {} rows in the tuning table of {}", tuned.manifest.tuning.len(), out.display());
    Ok(())
}

/// Writes `bytes` to a file beside `path`, then renames it over `path`: a reader never sees half
/// a bundle.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("rfkb.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

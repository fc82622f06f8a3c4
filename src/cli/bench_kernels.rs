//! `rocmforge bench-kernels`: kernel speed on a GPU (see `rocmforge::kernel_bench`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use rocmforge::backend::gpu::bundles::load_bundle;
use rocmforge::backend::gpu::{open_gpu, GpuKind, Kernels};
use rocmforge::kernel_bench::run_benches;
use rocmforge_codegen::bundle::Bundle;

#[derive(ClapArgs)]
pub struct Args {
    /// The GPU: hip or cuda (default: the first found).
    #[arg(long, value_parser = |s: &str| s.parse::<GpuKind>())]
    device: Option<GpuKind>,
    /// The kernel bundle (default: the one for the GPU found).
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Memory bandwidth to compare with, GB/s (the H100's measured device copy: 3000).
    #[arg(long, default_value_t = 3000.0)]
    peak_gbs: f64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let gpu = open_gpu(args.device).context("no GPU to benchmark")?;
    let (path, bundle) = match args.bundle {
        Some(path) => (path.clone(), Bundle::read(&path).context("reading the kernel bundle")?),
        None => load_bundle(gpu.target()?)?,
    };
    let kernels = Kernels::load(&gpu, &bundle, &path).with_context(|| format!("loading {}", path.display()))?;
    eprintln!("benchmarking {} on {}", path.display(), gpu.describe());
    let results = run_benches(&kernels, &|name| tracing::info!("{name}"))?;
    println!("{:<48} {:>10} {:>14} {:>8}", "kernel", "µs", "rate", "of peak");
    for r in &results {
        let (rate, share) = match r.rate() {
            Some((v, "GB/s")) => (format!("{v:.0} GB/s"), format!("{:.0}%", 100.0 * v / args.peak_gbs)),
            Some((v, unit)) => (format!("{v:.1} {unit}"), String::new()),
            None => (String::new(), String::new()),
        };
        println!("{:<48} {:>10.2} {:>14} {:>8}", r.name, r.micros, rate, share);
    }
    Ok(())
}

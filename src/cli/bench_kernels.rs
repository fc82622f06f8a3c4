//! `rocmforge bench-kernels`: kernel speed on a GPU (see `rocmforge::kernel_bench`).

use crate::tools::kernel_bench::run_benches;
use anyhow::Context;
use clap::Args as ClapArgs;

use super::gpu::GpuArgs;

#[derive(ClapArgs)]
pub struct Args {
    #[command(flatten)]
    gpu: GpuArgs,
    /// Memory bandwidth to compare with, GB/s (default: the device copy rate measured first in
    /// the same run).
    #[arg(long)]
    peak_gbs: Option<f64>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (_, _, kernels) = args.gpu.load()?;
    let results = run_benches(&kernels, &|name| tracing::info!("{name}"))?;
    let measured_copy = results.first().and_then(|r| r.rate()).map(|(v, _)| v);
    let peak = args.peak_gbs.or(measured_copy).context("no copy rate to compare with")?;
    let peak_name = if args.peak_gbs.is_some() { "of peak" } else { "of copy" };
    println!("{:<48} {:>10} {:>14} {:>8}", "kernel", "µs", "rate", peak_name);
    for r in &results {
        let (rate, share) = match r.rate() {
            Some((v, "GB/s")) => (format!("{v:.0} GB/s"), format!("{:.0}%", 100.0 * v / peak)),
            Some((v, unit)) => (format!("{v:.1} {unit}"), String::new()),
            None => (String::new(), String::new()),
        };
        println!("{:<48} {:>10.2} {:>14} {:>8}", r.name, r.micros, rate, share);
    }
    Ok(())
}

//! `rocmforge bench-kernels`: kernel speed on a GPU (see `rocmforge::kernel_bench`).

use crate::tools::kernel_bench::{run_benches, BenchResult, BENCHED, MATRIX_RATE};
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
    /// Only the kernel families whose name contains this (`matvec`, `gemm_f16`, `attn_prefill`,
    /// `sample`, ...); the device copy always runs, and the matrix rate with any matrix-unit family.
    #[arg(long, default_value = "")]
    filter: String,
    /// Also time the mat-vec of the common formats, and the GEMM, in every combination of their
    /// tuning axes.
    #[arg(long)]
    every_tuning: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        BENCHED.iter().any(|family| family.contains(args.filter.as_str())),
        "--filter {:?} is part of no benchmarked kernel family's name: {}",
        args.filter,
        BENCHED.join(", ")
    );
    let (_, _, kernels) = args.gpu.load()?;
    let results = run_benches(&kernels, &args.filter, args.every_tuning, &|name| tracing::info!("{name}"))?;
    let measured_copy = results.first().and_then(BenchResult::rate).map(|(v, _)| v);
    let bandwidth = args.peak_gbs.or(measured_copy).context("no copy rate to compare with")?;
    let matrix_rate = results.iter().find(|r| r.name == MATRIX_RATE).and_then(BenchResult::rate).map(|(v, _)| v);
    let copy = if args.peak_gbs.is_some() { "the given peak" } else { "the device copy" };
    println!("share: GB/s of {copy}, TFLOP/s of the measured matrix rate ({MATRIX_RATE})");
    println!("ceiling: a one-token mat-vec's rate as a share of a dependent launch's that only reads its weights (read_peak)");
    println!("{:<48} {:>10} {:>14} {:>8} {:>8}", "kernel", "µs", "rate", "share", "ceiling");
    for r in &results {
        let (rate, share) = match r.rate() {
            Some((v, "GB/s")) => (format!("{v:.0} GB/s"), format!("{:.0}%", 100.0 * v / bandwidth)),
            Some((v, unit)) => {
                let share = matrix_rate.map(|peak| format!("{:.0}%", 100.0 * v / peak)).unwrap_or_default();
                (format!("{v:.1} {unit}"), share)
            }
            None => (String::new(), String::new()),
        };
        let ceiling = r.ceiling.map(|us| format!("{:.0}%", 100.0 * us / r.micros)).unwrap_or_default();
        println!("{:<48} {:>10.2} {:>14} {:>8} {:>8}", r.name, r.micros, rate, share, ceiling);
    }
    Ok(())
}

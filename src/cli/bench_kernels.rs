//! `rocmforge bench-kernels`: kernel speed on a GPU (see `rocmforge::kernel_bench`).

use crate::tools::kernel_bench::run_benches;
use clap::Args as ClapArgs;

use super::gpu::GpuArgs;

#[derive(ClapArgs)]
pub struct Args {
    #[command(flatten)]
    gpu: GpuArgs,
    /// Memory bandwidth to compare with, GB/s (the H100's measured device copy: 3000).
    #[arg(long, default_value_t = 3000.0)]
    peak_gbs: f64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (_, kernels) = args.gpu.load()?;
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

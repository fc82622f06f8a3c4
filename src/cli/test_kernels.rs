//! `rocmforge test-kernels`: every kernel variant of a bundle on the GPU against the CPU reference.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use rocmforge::backend::cuda::Cuda;
use rocmforge::backend::gpu::bundles::load_bundle;
use rocmforge::backend::gpu::Gpu;
use rocmforge::parity::{run_bundle, Outcome};
use rocmforge_codegen::bundle::Bundle;

#[derive(ClapArgs)]
pub struct Args {
    /// The kernel bundle (default: the one for the GPU found; see `rocmforge compile`).
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Only variants whose key contains this text (e.g. `matvec`, `quant=q4_k`).
    #[arg(long)]
    filter: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let gpu = Cuda::open().context("no GPU to test kernels on (CUDA)")?;
    let target = gpu.target()?;
    let (path, bundle) = match args.bundle {
        Some(path) => {
            let bundle = Bundle::read(&path).context("reading the kernel bundle")?;
            bundle.verify_against_catalog(&path).context("the bundle does not match this build's catalog")?;
            (path, bundle)
        }
        None => load_bundle(target)?,
    };
    eprintln!("testing {} on {}", path.display(), gpu.describe());
    let outcomes = run_bundle(&gpu, &bundle, args.filter.as_deref(), &|key| tracing::debug!("running {key}"))?;
    print_outcomes(&outcomes);
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    if failed > 0 {
        anyhow::bail!("{failed} kernel outputs differ from the CPU reference");
    }
    Ok(())
}

fn print_outcomes(outcomes: &[Outcome]) {
    println!("{:<58} {:<10} {:>10} {:>8}  result", "case", "output", "error", "limit");
    for o in outcomes {
        let (error, verdict) = match &o.error {
            Ok(e) => (format!("{e:.2e}"), if o.passed() { "ok".to_string() } else { "FAIL".to_string() }),
            Err(msg) => ("-".to_string(), format!("FAIL: {msg}")),
        };
        println!("{:<58} {:<10} {:>10} {:>8.0e}  {verdict}", o.case, o.output, error, o.tolerance);
    }
}

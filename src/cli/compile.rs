//! `rocmforge compile --arch …`: every kernel variant for a target, checked and bundled.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use rocmforge_codegen::toolchain::{default_cache_root, Toolchain};
use rocmforge_codegen::{compile_bundle, CompileOptions, Host, Progress, Quant, Target};

use super::kernels::print_table;
use rocmforge::backend::gpu::bundles::file_name;
use rocmforge::progress::count_bar;

#[derive(ClapArgs)]
pub struct Args {
    /// Target architectures, comma-separated: gfx1100, gfx942, gfx950, sm_90, or `all`.
    #[arg(long, value_delimiter = ',', required = true)]
    arch: Vec<String>,
    /// Only these head sizes (default: every size in the catalog: 64, 128, 256).
    #[arg(long, value_delimiter = ',')]
    head_dims: Option<Vec<u32>>,
    /// Only these weight formats (default: all: q4_0 … q6_k, mxfp4).
    #[arg(long, value_delimiter = ',', value_parser = parse_quant)]
    quants: Option<Vec<Quant>>,
    /// Only these kernel families (default: all).
    #[arg(long, value_delimiter = ',')]
    families: Option<Vec<String>>,
    /// Output file (one architecture only).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Directory for `rocmforge-<arch>.rfkb` files when no -o is given.
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
    /// Parallel compiler processes (default: number of cores).
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Also write every generated HIP source to DIR/<arch>/<kernel>.hip.
    #[arg(long, value_name = "DIR")]
    emit_source: Option<PathBuf>,
    /// Compile the targets' algorithms for this NVIDIA GPU (`sm_90`) or for this machine's
    /// CPU (`cpu`) instead, their wave emulated there (on NVIDIA gfx942/gfx950's wave64 as two
    /// warps; on the CPU each thread a fiber; MFMA and WMMA through shared memory): `test-kernels`
    /// then executes the AMD logic there (`--device sim` for the CPU).
    #[arg(long, value_name = "ARCH")]
    emulate_on: Option<Host>,
    /// Print the per-variant table (registers, LDS, occupancy).
    #[arg(long)]
    table: bool,
}

fn parse_quant(s: &str) -> Result<Quant, String> {
    s.parse()
}

fn targets(names: &[String]) -> anyhow::Result<Vec<Target>> {
    if names.iter().any(|n| n == "all") {
        return Ok(Target::ALL.to_vec());
    }
    names.iter().map(|n| n.parse::<Target>().map_err(anyhow::Error::from)).collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let targets = targets(&args.arch)?;
    if args.output.is_some() && targets.len() > 1 {
        anyhow::bail!("-o names one file; with several architectures use --out-dir");
    }
    let toolchain = Toolchain::discover(&default_cache_root());
    let options = CompileOptions {
        head_dims: args.head_dims,
        quants: args.quants,
        families: args.families,
        jobs: args.jobs,
        emit_source: args.emit_source,
        emulate_on: args.emulate_on,
    };
    for target in targets {
        let name = file_name(target, args.emulate_on.unwrap_or(Host::Gpu(target)));
        let path = args.output.clone().unwrap_or_else(|| args.out_dir.join(name));
        let bar = count_bar(0, target.name());
        let progress = |p: &Progress| {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
        };
        let report = compile_bundle(&toolchain, target, &options, &progress)
            .with_context(|| format!("compiling the {target} bundle"))?;
        bar.finish_and_clear();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, &report.bundle.data).with_context(|| format!("writing {}", path.display()))?;
        if args.table {
            print_table(&report.bundle.manifest);
        }
        eprintln!(
            "{target}: {} variants ({} compiled, {} cached) in {:.1} s -> {} ({:.1} MB)",
            report.bundle.manifest.variants.len(),
            report.compiled,
            report.cached,
            report.seconds,
            path.display(),
            report.bundle.data.len() as f64 / 1e6
        );
    }
    Ok(())
}

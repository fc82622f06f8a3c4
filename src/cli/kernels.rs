//! `rocmforge kernels FILE`: what a bundle holds, checked against this build's catalog.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use rocmforge_codegen::bundle::{Bundle, Manifest};

#[derive(ClapArgs)]
pub struct Args {
    /// A bundle written by `rocmforge compile`.
    file: PathBuf,
    /// Print the manifest as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let bundle = Bundle::read(&args.file).context("reading the kernel bundle")?;
    bundle
        .verify_against_catalog(&args.file)
        .with_context(|| format!("{} does not match this build's kernel catalog", args.file.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&bundle.manifest)?);
    } else {
        print_table(&bundle.manifest);
        print_tuning(&bundle.manifest);
    }
    let emulated = bundle.manifest.emulated_on.as_ref().map(|host| format!(", emulated on {host}")).unwrap_or_default();
    eprintln!(
        "{}: {} variants for {} (wave{}{emulated}), all verified against the catalog; built by {} with {}",
        args.file.display(),
        bundle.manifest.variants.len(),
        bundle.manifest.target,
        bundle.manifest.wave_size,
        bundle.manifest.generator,
        bundle.manifest.compiler
    );
    Ok(())
}

/// One line per variant: registers, shared memory, scratch, occupancy.
pub fn print_table(manifest: &Manifest) {
    let vendor_amd = manifest.target.starts_with("gfx");
    println!(
        "{:<40} {:>7} {:>5} {:>5} {:>6} {:>7} {:>9}  limited by",
        "variant",
        "threads",
        if vendor_amd { "vgpr" } else { "regs" },
        if vendor_amd { "sgpr" } else { "" },
        "lds",
        "scratch",
        "occupancy"
    );
    for e in &manifest.variants {
        let r = &e.resources;
        let sgpr = if vendor_amd { r.sgprs.to_string() } else { String::new() };
        println!(
            "{:<40} {:>7} {:>5} {:>5} {:>6} {:>7} {:>6}/{:<2}  {}",
            e.key,
            e.threads,
            r.vgprs + r.agprs,
            sgpr,
            r.lds_bytes,
            r.scratch_bytes,
            e.occupancy.resident,
            e.occupancy.max,
            e.occupancy.limited_by
        );
    }
}

/// The tuning table (`rocmforge tune`), if the bundle has one.
fn print_tuning(manifest: &Manifest) {
    if manifest.tuning.is_empty() {
        return;
    }
    println!(
        "\n{:<12} {:<8} {:<46} {:<16} {:>9} {:>11}  device",
        "tuned", "format", "shape", "axes", "µs", "default µs"
    );
    for t in &manifest.tuning {
        let shape: Vec<String> = t.shape.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let axes: Vec<String> = t.axes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:<12} {:<8} {:<46} {:<16} {:>9.2} {:>11.2}  {}",
            t.family,
            t.quant.as_deref().unwrap_or("-"),
            shape.join(","),
            axes.join(","),
            t.micros,
            t.default_micros,
            t.device
        );
    }
}

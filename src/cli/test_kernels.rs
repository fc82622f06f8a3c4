//! `rocmforge test-kernels`: every kernel variant of a bundle on a GPU against the CPU reference.

use crate::tools::parity::{run_bundle, run_typed, Outcome, Sizes};
use clap::Args as ClapArgs;
use rocmforge_codegen::bundle::Bundle;
use rocmforge_codegen::kernels;

use super::gpu::GpuArgs;

#[derive(ClapArgs)]
pub struct Args {
    #[command(flatten)]
    gpu: GpuArgs,
    /// Only variants whose key contains this text (e.g. `matvec`, `quant=q4_k`).
    #[arg(long)]
    filter: Option<String>,
    /// `full`: rows 1, 7, 4097, sequences 1, 17, 512, 4096, GQA 1, 4, 7; `small`: a quick pass.
    #[arg(long, default_value = "full", value_parser = ["full", "small"])]
    sizes: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (_, bundle, kernels) = args.gpu.load()?;
    let sizes = if args.sizes == "small" { Sizes::Small } else { Sizes::Full };
    let mut outcomes =
        run_bundle(&kernels, &bundle, sizes, args.filter.as_deref(), &|key| tracing::info!("running {key}"))?;
    if args.filter.is_none() {
        outcomes.extend(run_typed(&kernels));
    }
    print_outcomes(&outcomes);
    print_emulation(&bundle, &outcomes)?;
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    if failed > 0 {
        anyhow::bail!("{failed} kernel outputs differ from the CPU reference");
    }
    Ok(())
}

fn print_outcomes(outcomes: &[Outcome]) {
    println!("{:<72} {:<8} {:>9} {:>7}  result", "case", "output", "error", "limit");
    for o in outcomes {
        let (error, verdict) = match &o.error {
            Ok(e) => (format!("{e:.2e}"), if o.passed() { "ok".to_string() } else { "FAIL".to_string() }),
            Err(msg) => ("-".to_string(), format!("FAIL: {msg}")),
        };
        println!("{:<72} {:<8} {:>9} {:>7.0e}  {verdict}", o.case, o.output, error, o.tolerance);
    }
}

/// For a bundle whose AMD wave is emulated on this GPU (`compile --emulate-on`): each family's
/// executed outputs and worst error, and the target's variants that were only compiled (in its
/// own bundle), with why.
fn print_emulation(bundle: &Bundle, outcomes: &[Outcome]) -> anyhow::Result<()> {
    if bundle.manifest.emulated_on.is_none() {
        return Ok(());
    }
    let (target, host) = (bundle.target()?, bundle.host()?);
    println!("\n{target} (wave{}) emulated on {host}: executed", target.wave_size());
    for family in kernels::catalog() {
        let ran: Vec<&Outcome> =
            outcomes.iter().filter(|o| o.case.split([' ', '[']).next() == Some(family.name)).collect();
        if let Some(why) = family.not_emulated(target, host) {
            let keys: Vec<String> = family.variants(target).iter().map(|v| v.key()).collect();
            println!("  {:<20} only compiled ({why}): {}", family.name, keys.join(" "));
        } else if !ran.is_empty() {
            let worst = ran.iter().filter_map(|o| o.error.as_ref().ok().map(|e| (*e, o.tolerance)));
            let (error, limit) = worst.fold((0.0f64, 0.0f64), |a, b| if b.0 > a.0 { b } else { a });
            let variants = bundle.manifest.variants.iter().filter(|e| e.family == family.name).count();
            println!(
                "  {:<20} {variants} variants, {} outputs, worst error {error:.2e} (limit {limit:.0e})",
                family.name,
                ran.len()
            );
        }
    }
    Ok(())
}

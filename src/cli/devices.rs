//! `rocmforge devices`: what this machine can run on, and why not where it can't.

use rocmforge::backend::gpu::bundles::find_bundle;
use rocmforge::backend::gpu::{GpuKind, Host};
use rocmforge::backend::sim;
use rocmforge_codegen::toolchain::{default_cache_root, Toolchain};

pub fn run() -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("cpu   {threads} threads, {} kernels (the default device)", rocmforge::quant::simd_level());
    for kind in GpuKind::ALL {
        match kind.open() {
            Err(e) => println!("{kind:<5} not available: {e}"),
            Ok(gpu) => {
                let kernels = match gpu.target() {
                    Err(e) => e.to_string(),
                    Ok(target) => match find_bundle(target, Host::Gpu(target)) {
                        Some(path) => format!("kernels: {}", path.display()),
                        None => format!("no kernel bundle yet: `rocmforge compile --arch {target}` builds one"),
                    },
                };
                println!("{kind:<5} {}; {kernels}", gpu.describe());
            }
        }
    }
    let targets: Vec<String> = sim::TARGETS.iter().enumerate().map(|(i, t)| format!("sim:{i} {t}")).collect();
    let clang = match Toolchain::discover(&default_cache_root()).check(Host::Cpu) {
        Ok(()) => "its bundles compile on first use".to_string(),
        Err(e) => format!("not available: {e}"),
    };
    println!("sim   the CPU's kernel simulator, for checking kernels ({}); {clang}", targets.join(", "));
    Ok(())
}

//! AMD waves emulated on NVIDIA (`compile --emulate-on sm_90`) or on the CPU (`--emulate-on
//! cpu`): the gfx942/gfx950 (wave64) and gfx1100 algorithms, matrix instructions included,
//! compiled for the H200 or as the CPU simulator's libraries, so that `test-kernels` executes
//! them. What is left out, and why, is decided by the catalog; the bundle records where its code
//! runs. A toolchain missing: skipped with the reason printed.

use std::path::Path;

use rocmforge_codegen::bundle::Bundle;
use rocmforge_codegen::toolchain::{default_cache_root, Toolchain};
use rocmforge_codegen::{compile_bundle, kernels, CompileOptions, Error, Host, Target};

fn emulated(host: Host) -> CompileOptions {
    CompileOptions { emulate_on: Some(host), ..Default::default() }
}

#[test]
fn every_amd_variant_but_argmax_compiles_for_sm_90() {
    let toolchain = Toolchain::discover(&default_cache_root());
    if let Err(e) = toolchain.check(Host::Gpu(Target::Sm90)) {
        assert!(std::env::var_os("ROCMFORGE_REQUIRE_TOOLCHAIN").is_none(), "sm_90: {e}");
        eprintln!("SKIPPED: {e}");
        return;
    }
    for target in [Target::Gfx942, Target::Gfx950, Target::Gfx1100] {
        let report = compile_bundle(&toolchain, target, &emulated(Host::Gpu(Target::Sm90)), &|_| {})
            .unwrap_or_else(|e| panic!("{target} on sm_90: {e}"));
        let manifest = &report.bundle.manifest;
        assert_eq!((manifest.target.as_str(), manifest.wave_size), (target.name(), target.wave_size()));
        assert_eq!(manifest.emulated_on.as_deref(), Some("sm_90"));

        let path = Path::new("emulated.rfkb");
        let bundle = Bundle::parse(path, report.bundle.data.clone()).expect("parses");
        assert_eq!((bundle.target().unwrap(), bundle.host().unwrap()), (target, Host::Gpu(Target::Sm90)));
        bundle.verify_against_catalog(path).expect("verifies as sm_90 code of the AMD algorithm");

        let mut left_out = Vec::new();
        for family in kernels::catalog() {
            let in_bundle = manifest.variants.iter().filter(|e| e.family == family.name).count();
            match family.not_emulated(target, Host::Gpu(Target::Sm90)) {
                Some(_) => {
                    assert_eq!(in_bundle, 0, "{}", family.name);
                    left_out.push(family.name);
                }
                None => assert_eq!(in_bundle, family.variants(target).len(), "{}", family.name),
            }
        }
        // argmax's 1024 threads (15 named barriers); the MFMA and WMMA kernels run, their
        // instruction emulated (partials/amd_matrix.hip.j2).
        assert_eq!(left_out, ["argmax"], "{target}");
    }
}

#[test]
fn every_amd_variant_compiles_for_the_cpu_simulator() {
    let toolchain = Toolchain::discover(&default_cache_root());
    if let Err(e) = toolchain.check(Host::Cpu) {
        assert!(std::env::var_os("ROCMFORGE_REQUIRE_TOOLCHAIN").is_none(), "cpu: {e}");
        eprintln!("SKIPPED: {e}");
        return;
    }
    for target in [Target::Gfx942, Target::Gfx950, Target::Gfx1100] {
        let report = compile_bundle(&toolchain, target, &emulated(Host::Cpu), &|_| {})
            .unwrap_or_else(|e| panic!("{target} on the CPU: {e}"));
        let manifest = &report.bundle.manifest;
        assert_eq!(manifest.emulated_on.as_deref(), Some("cpu"));
        // No named barriers to run out of: argmax's 1024 threads run too.
        let all: usize = kernels::catalog().iter().map(|f| f.variants(target).len()).sum();
        assert_eq!(manifest.variants.len(), all, "{target}");

        let path = Path::new("simulated.rfkb");
        let bundle = Bundle::parse(path, report.bundle.data.clone()).expect("parses");
        assert_eq!((bundle.target().unwrap(), bundle.host().unwrap()), (target, Host::Cpu));
        bundle.verify_against_catalog(path).expect("verifies as the simulator's libraries of the AMD algorithm");
    }
}

#[test]
fn only_amd_waves_are_emulated_and_only_on_nvidia_or_the_cpu() {
    let toolchain = Toolchain::discover(&default_cache_root());
    let cases = [
        (Target::Gfx942, Host::Gpu(Target::Gfx1100)),
        (Target::Sm90, Host::Gpu(Target::Sm90)),
        (Target::Sm90, Host::Cpu),
    ];
    for (target, host) in cases {
        let err = compile_bundle(&toolchain, target, &emulated(host), &|_| {}).unwrap_err();
        assert!(matches!(err, Error::Emulation { .. }), "{err}");
        assert!(err.to_string().contains(&format!("cannot emulate {target}'s wave on {host}")), "{err}");
    }
}

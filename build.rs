//! Build script: records the git commit (`--version`, bench JSON's `build_commit`) and builds
//! the default kernel bundles — every catalog variant for gfx1100, gfx942, gfx950 and sm_90 —
//! into `$OUT_DIR/kernels` when the toolchain is installed (scripts/install-toolchain.sh). A
//! target without its toolchain is skipped with a warning naming what is missing; a kernel that
//! fails to compile or validate fails the build. `ROCMFORGE_SKIP_KERNELS=1` skips them all.

use std::path::PathBuf;
use std::process::Command;

use rocmforge_codegen::toolchain::{default_cache_root, Toolchain};
use rocmforge_codegen::{compile_bundle, CompileOptions, Host, Target};

fn main() {
    record_commit();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("kernels");
    println!("cargo:rustc-env=ROCMFORGE_BUILT_BUNDLES={}", out.display());
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=codegen/src");
    println!("cargo:rerun-if-env-changed=ROCMFORGE_SKIP_KERNELS");
    if std::env::var_os("ROCMFORGE_SKIP_KERNELS").is_some() {
        println!("cargo:warning=kernel bundles skipped (ROCMFORGE_SKIP_KERNELS is set)");
        return;
    }
    std::fs::create_dir_all(&out).expect("create $OUT_DIR/kernels");
    let toolchain = Toolchain::discover(&default_cache_root());
    for target in Target::ALL {
        if let Err(e) = toolchain.check(Host::Gpu(target)) {
            let reason = e.to_string().replace('\n', " ");
            println!("cargo:warning=kernel bundle for {target} skipped: {reason}");
            continue;
        }
        let report = compile_bundle(&toolchain, target, &CompileOptions::default(), &|_| {})
            .unwrap_or_else(|e| panic!("building the {target} kernel bundle: {e}"));
        let path = out.join(format!("rocmforge-{}.rfkb", target.name()));
        std::fs::write(&path, &report.bundle.data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

fn record_commit() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ROCMFORGE_BUILD_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}

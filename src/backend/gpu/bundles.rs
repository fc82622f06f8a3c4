//! Finding the kernel bundle for a GPU: `$ROCMFORGE_KERNELS`, the bundles `build.rs` built, the
//! cache; failing those, compiling one now when the toolchain is installed, or an error that
//! gives the command to run.

use std::path::{Path, PathBuf};

use rocmforge_codegen::bundle::{compile_command, Bundle};
use rocmforge_codegen::toolchain::{default_cache_root, Toolchain};
use rocmforge_codegen::{compile_bundle, CompileOptions, Host, Progress, Target};

use crate::progress::count_bar;

#[derive(Debug, thiserror::Error)]
pub enum KernelsError {
    #[error("no kernel bundle {name} (looked in {looked}) and no toolchain to compile one: {reason}\n  build it with: {command} --out-dir {cache}")]
    Missing { name: String, command: String, looked: String, reason: String, cache: String },
    #[error(transparent)]
    Codegen(#[from] rocmforge_codegen::Error),
}

/// The file name of the bundle of `target`'s algorithms compiled for `host`.
pub fn file_name(target: Target, host: Host) -> String {
    match host.emulating(target) {
        Some(host) => format!("rocmforge-{target}-on-{host}.rfkb"),
        None => format!("rocmforge-{target}.rfkb"),
    }
}

/// Where bundles are looked for, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("ROCMFORGE_KERNELS") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from(env!("ROCMFORGE_BUILT_BUNDLES")));
    dirs.push(default_cache_root().join("bundles"));
    dirs
}

/// The first bundle file for `target` on `host` in the search directories.
pub fn find_bundle(target: Target, host: Host) -> Option<PathBuf> {
    search_dirs().into_iter().map(|dir| dir.join(file_name(target, host))).find(|p| p.is_file())
}

/// The bundle for `target` on `host` (`Kernels::load` verifies it); compiled into the cache
/// when none exists, or the cache's is stale, and the toolchain is installed.
pub fn load_bundle(target: Target, host: Host) -> Result<(PathBuf, Bundle), KernelsError> {
    let cache = default_cache_root().join("bundles");
    // One compiled into the cache by an earlier build goes stale when the kernels change: it is
    // compiled again. One the user placed is theirs, as is a stale one without a toolchain:
    // `Kernels::load` refuses it, naming the command that rebuilds it.
    let mut stale = None;
    if let Some(path) = find_bundle(target, host) {
        let bundle = Bundle::read(&path)?;
        // Only the cache's is verified here: `Kernels::load` verifies whichever is returned.
        if !path.starts_with(&cache) {
            return Ok((path, bundle));
        }
        match bundle.verify_against_catalog(&path) {
            Ok(()) => return Ok((path, bundle)),
            Err(e) => {
                tracing::warn!("{e}; compiling it again");
                stale = Some((path, bundle));
            }
        }
    }
    let dirs = search_dirs();
    let toolchain = Toolchain::discover(&default_cache_root());
    let (name, emulate_on) = (file_name(target, host), host.emulating(target));
    if let Err(e) = toolchain.check(host) {
        if let Some(found) = stale {
            return Ok(found);
        }
        let looked = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
        return Err(KernelsError::Missing {
            name,
            command: compile_command(target, host),
            looked,
            reason: e.to_string(),
            cache: cache.display().to_string(),
        });
    }
    tracing::info!("compiling {name} into {}", cache.display());
    let path = cache.join(name);
    let bar = count_bar(0, &format!("compiling {target} kernels"));
    let progress = |p: &Progress| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
    };
    let report = compile_bundle(&toolchain, target, &CompileOptions { emulate_on, ..Default::default() }, &progress)?;
    bar.finish_and_clear();
    write(&path, &report.bundle.data)?;
    Ok((path, report.bundle))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), rocmforge_codegen::Error> {
    let io = |error| rocmforge_codegen::Error::Io { path: path.to_path_buf(), error };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}

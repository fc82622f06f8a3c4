//! The arguments and set-up shared by the commands that run kernels on a GPU.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use rocmforge::backend::gpu::bundles::load_bundle;
use rocmforge::backend::gpu::{open_gpu, GpuKind, Kernels};
use rocmforge_codegen::bundle::Bundle;

#[derive(ClapArgs)]
pub struct GpuArgs {
    /// The GPU: hip or cuda (default: the first found), or sim, the CPU's kernel simulator.
    #[arg(long, value_parser = |s: &str| s.parse::<GpuKind>())]
    device: Option<GpuKind>,
    /// The kernel bundle (default: the one for the GPU found; see `rocmforge compile`).
    #[arg(long)]
    bundle: Option<PathBuf>,
}

impl GpuArgs {
    /// Opens the GPU and loads its bundle (verified against this build's catalog and launchers);
    /// gives the bundle's path too.
    pub fn load(&self) -> anyhow::Result<(PathBuf, Bundle, Kernels)> {
        let gpu = open_gpu(self.device).context("no GPU to run kernels on")?;
        let (path, bundle) = match &self.bundle {
            Some(path) => (path.clone(), Bundle::read(path).context("reading the kernel bundle")?),
            None => load_bundle(gpu.target()?, gpu.host()?)?,
        };
        let kernels = Kernels::load(&gpu, &bundle, &path).with_context(|| format!("loading {}", path.display()))?;
        eprintln!("{} on {}", path.display(), gpu.describe());
        Ok((path, bundle, kernels))
    }
}

//! A kernel bundle loaded on a GPU: variants by key, launched with packed arguments and the
//! grid from the catalog's rule. Loading checks that every generated launcher's `Kernarg`
//! struct is laid out as the code objects read their arguments.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use rocmforge_codegen::bundle::{read_kernel, Bundle};
use rocmforge_codegen::catalog::Family;
use rocmforge_codegen::{kernels, Target};

use super::launchers::LAYOUTS;
use super::{FunctionHandle, Gpu, GpuError, StreamHandle};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Codegen(#[from] rocmforge_codegen::Error),
    #[error("the {target} bundle has no variant {key}; rebuild it with `rocmforge compile --arch {target}` (without a --head-dims/--quants/--families filter that leaves it out)")]
    MissingVariant { key: String, target: Target },
    #[error("the bundle is for {bundle}, the GPU is {device}")]
    WrongTarget { bundle: String, device: Target },
    #[error("launcher `{family}` disagrees with the code object of {key}: {detail}")]
    Layout { family: String, key: String, detail: String },
    #[error("launching {key}: {detail}")]
    Grid { key: String, detail: String },
}

struct Loaded {
    function: FunctionHandle,
    threads: u32,
}

/// The variants of one bundle, loaded on one GPU. Launches go to one stream (the default
/// stream unless `use_stream` says otherwise) and do not wait.
pub struct Kernels {
    gpu: Rc<dyn Gpu>,
    target: Target,
    catalog: Vec<Family>,
    variants: HashMap<String, Loaded>,
    stream: Cell<StreamHandle>,
}

impl Kernels {
    /// Verifies `bundle` against this build's catalog and launchers, and loads every code object.
    pub fn load(gpu: &Rc<dyn Gpu>, bundle: &Bundle, path: &Path) -> Result<Kernels, LaunchError> {
        let target = gpu.target()?;
        if bundle.manifest.target != target.name() {
            return Err(LaunchError::WrongTarget { bundle: bundle.manifest.target.clone(), device: target });
        }
        bundle.verify_against_catalog(path)?;
        check_launcher_layouts(bundle)?;
        let mut variants = HashMap::new();
        for entry in &bundle.manifest.variants {
            let module = gpu.load_module(bundle.code(entry))?;
            let function = gpu.function(module, &entry.symbol)?;
            variants.insert(entry.key.clone(), Loaded { function, threads: entry.threads });
        }
        let stream = Cell::new(StreamHandle::DEFAULT);
        Ok(Kernels { gpu: Rc::clone(gpu), target, catalog: kernels::catalog(), variants, stream })
    }

    pub fn gpu(&self) -> &Rc<dyn Gpu> {
        &self.gpu
    }

    pub fn target(&self) -> Target {
        self.target
    }

    /// Sends later launches to `stream` (one this GPU created, or `StreamHandle::DEFAULT`).
    pub fn use_stream(&self, stream: StreamHandle) {
        self.stream.set(stream);
    }

    pub fn stream(&self) -> StreamHandle {
        self.stream.get()
    }

    /// Waits for the launches so far; a kernel's failure surfaces here.
    pub fn synchronize(&self) -> Result<(), LaunchError> {
        Ok(self.gpu.synchronize(self.stream.get())?)
    }

    /// Enqueues variant `key` of `family` with packed arguments; `size` names the grid's sizes.
    pub fn launch(
        &self,
        family: &str,
        key: &str,
        kernargs: &[u8],
        size: &dyn Fn(&str) -> Option<u64>,
    ) -> Result<(), LaunchError> {
        let loaded = self
            .variants
            .get(key)
            .ok_or_else(|| LaunchError::MissingVariant { key: key.to_string(), target: self.target })?;
        let f = self
            .catalog
            .iter()
            .find(|f| f.name == family)
            .ok_or_else(|| LaunchError::MissingVariant { key: key.to_string(), target: self.target })?;
        let grid = f
            .launch
            .grid_for(self.target, size)
            .map_err(|detail| LaunchError::Grid { key: key.to_string(), detail })?;
        if grid.contains(&0) {
            return Ok(()); // nothing to do (an empty batch)
        }
        self.gpu.enqueue(self.stream.get(), loaded.function, grid, loaded.threads, kernargs)?;
        Ok(())
    }
}

/// Checks every code object of `bundle` against its family's generated `Kernarg` layout
/// (`launchers::LAYOUTS`): the same arguments, at the same offsets, of the same sizes, and on
/// AMD with the same names. Needs no GPU.
pub fn check_launcher_layouts(bundle: &Bundle) -> Result<(), LaunchError> {
    let target: Target = bundle.target()?;
    for entry in &bundle.manifest.variants {
        let layout_error =
            |detail: String| LaunchError::Layout { family: entry.family.clone(), key: entry.key.clone(), detail };
        let Some((_, layout)) = LAYOUTS.iter().find(|(f, _)| *f == entry.family) else {
            return Err(layout_error("this build has no launcher for the family".into()));
        };
        let kernel = read_kernel(target, bundle.code(entry), &entry.compiler_log, &entry.symbol)?;
        if kernel.args.len() != layout.len() {
            return Err(layout_error(format!(
                "the launcher passes {} arguments, the code object takes {}",
                layout.len(),
                kernel.args.len()
            )));
        }
        for (&(name, offset, size), arg) in layout.iter().zip(&kernel.args) {
            let names_differ = arg.name.as_deref().is_some_and(|n| n != name);
            if names_differ || (arg.offset as usize, arg.size as usize) != (offset, size) {
                return Err(layout_error(format!(
                    "field `{name}` is {size} bytes at offset {offset} in the launcher's Kernarg; the code object has `{}`, {} bytes at offset {}",
                    arg.name.as_deref().unwrap_or("?"),
                    arg.size,
                    arg.offset
                )));
            }
        }
    }
    Ok(())
}

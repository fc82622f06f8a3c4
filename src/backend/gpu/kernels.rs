//! A kernel bundle loaded on a GPU. Loading checks that every generated launcher's `Kernarg`
//! struct is laid out as the code objects read their arguments; a launcher resolves its variant
//! once (`Kernels::resolve`, a `Resolved` handle) and then launches it with no lookup, on the
//! stream it is given, after checking its buffer views against the family's declared extents.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use rocmforge_codegen::bundle::{compile_command, read_kernel, Bundle, Tuned};
use rocmforge_codegen::catalog::{kernarg_layout, Family, Launch, ParamKind, TensorMapOf, Tuning};
use rocmforge_codegen::{kernels, Host, Quant, Target};

use super::launchers::LAYOUTS;
use super::tuning::Choice;
use super::{FunctionHandle, Gpu, GpuError, StreamHandle, TensorMapSpec};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Codegen(#[from] rocmforge_codegen::Error),
    #[error("the {target} bundle has no variant {key}; rebuild it with `{}` (without a --head-dims/--quants/--families filter that leaves it out)", compile_command(*target, *host))]
    MissingVariant { key: String, target: Target, host: Host },
    #[error("the bundle runs on {bundle}, the device is {device}")]
    WrongTarget { bundle: String, device: Host },
    #[error("launcher `{family}` disagrees with the code object of {key}: {detail}")]
    Layout { family: String, key: String, detail: String },
    #[error("{0} has no tuning axes in this build")]
    NotTuned(String),
    #[error("launching {key}: {detail}")]
    Grid { key: String, detail: String },
    #[error("the extent of {family}'s `{param}`: {why}")]
    Extent { family: String, param: String, why: String },
    #[error("launching {family}: `{arg}` is a view of {len} elements, and these sizes need {need}")]
    View { family: &'static str, arg: &'static str, need: i128, len: usize },
}

/// One variant loaded on a GPU, found once: launching it does no lookup.
pub struct Resolved {
    gpu: Rc<dyn Gpu>,
    key: String,
    function: FunctionHandle,
    threads: u32,
    shared_bytes: u32,
    launch: Launch,
    target: Target,
    maps: Vec<MapSlot>,
}

/// A tensor-map parameter: where it goes in the kernargs, where its buffer's pointer is, and
/// what it describes.
struct MapSlot {
    at: usize,
    buffer_at: usize,
    of: TensorMapOf,
}

impl MapSlot {
    /// The family's tensor-map parameters, at their kernarg offsets.
    fn of_family(family: &Family) -> Vec<MapSlot> {
        let (layout, _) = kernarg_layout(&family.params);
        let offset = |name: &str| family.params.iter().position(|p| p.name == name).map(|i| layout[i].0 as usize);
        family
            .params
            .iter()
            .zip(&layout)
            .filter_map(|(p, &(at, _))| match p.kind {
                ParamKind::TensorMap(of) => Some(MapSlot {
                    at: at as usize,
                    buffer_at: offset(of.buffer).expect("a tensor map's buffer is a parameter (check_tensor_maps)"),
                    of,
                }),
                _ => None,
            })
            .collect()
    }
}

impl Resolved {
    /// Enqueues the variant on `stream` with packed arguments; `size` names the grid's sizes (and
    /// the tensor maps' sizes: each map is made here from its buffer, where callers pack zeros).
    /// An empty grid (an empty batch) launches nothing. Does not wait.
    ///
    /// # Safety
    /// `kernargs` must be laid out as the variant's code object reads its arguments, and each
    /// pointer in it must address device memory holding at least what the kernel reads and
    /// writes for these sizes, not written by anything else until the launch has run. The
    /// generated launchers guarantee this: their layouts are checked when the bundle loads,
    /// their views borrow the buffers and are checked against the declared extents, and a
    /// buffer's memory is freed by the driver's free, which waits for the device's work.
    pub unsafe fn enqueue(
        &self,
        stream: StreamHandle,
        kernargs: &[u8],
        size: &dyn Fn(&str) -> Option<u64>,
    ) -> Result<(), LaunchError> {
        let grid = self
            .launch
            .grid_for(self.target, size)
            .map_err(|detail| LaunchError::Grid { key: self.key.clone(), detail })?;
        if grid.contains(&0) {
            return Ok(());
        }
        let kernargs = self.with_tensor_maps(kernargs, size)?;
        Ok(self.gpu.enqueue(stream, self.function, grid, self.threads, self.shared_bytes, &kernargs)?)
    }

    /// `kernargs` with each tensor map made from its buffer's pointer (in `kernargs`) and the
    /// launch's sizes: callers pack zeros there.
    fn with_tensor_maps<'k>(
        &self,
        kernargs: &'k [u8],
        size: &dyn Fn(&str) -> Option<u64>,
    ) -> Result<Cow<'k, [u8]>, LaunchError> {
        if self.maps.is_empty() {
            return Ok(Cow::Borrowed(kernargs));
        }
        let mut out = kernargs.to_vec();
        for slot in &self.maps {
            let grid_error = |detail: String| LaunchError::Grid { key: self.key.clone(), detail };
            let dim =
                |name: &str| size(name).ok_or_else(|| grid_error(format!("tensor map size `{name}` is not given")));
            let pointer = out.get(slot.buffer_at..slot.buffer_at + 8).and_then(|b| b.try_into().ok());
            let pointer = pointer.ok_or_else(|| grid_error("the kernargs end before a tensor map's buffer".into()))?;
            let spec = TensorMapSpec {
                address: u64::from_le_bytes(pointer),
                rows: dim(slot.of.rows)?,
                cols: dim(slot.of.cols)?,
                box_rows: slot.of.box_rows.items(self.threads, self.target),
                box_cols: slot.of.box_cols.items(self.threads, self.target),
            };
            let map = self.gpu.tensor_map(&spec)?;
            let dst = out
                .get_mut(slot.at..slot.at + map.0.len())
                .ok_or_else(|| grid_error("the kernargs end before a tensor map".into()))?;
            dst.copy_from_slice(&map.0);
        }
        Ok(Cow::Owned(out))
    }
}

/// Fails unless a view of `len` elements holds the `need` that argument `arg` of `family`
/// declares for the launch's sizes.
pub fn check_extent(family: &'static str, arg: &'static str, need: i128, len: usize) -> Result<(), LaunchError> {
    if need > len as i128 {
        return Err(LaunchError::View { family, arg, need, len });
    }
    Ok(())
}

struct Loaded {
    function: FunctionHandle,
    threads: u32,
    shared_bytes: u32,
}

/// The variants of one bundle, loaded on one GPU.
pub struct Kernels {
    gpu: Rc<dyn Gpu>,
    target: Target,
    /// What runs the target's kernels (the target itself, or a host emulating its wave).
    host: Host,
    catalog: Vec<Family>,
    variants: HashMap<String, Loaded>,
    /// The bundle's tuning table.
    tuning: Vec<Tuned>,
}

impl Kernels {
    /// Verifies `bundle` against this build's catalog and launchers, and loads every code object.
    /// An emulated bundle (`compile --emulate-on`) loads on its host GPU and launches with its
    /// target's geometry.
    pub fn load(gpu: &Rc<dyn Gpu>, bundle: &Bundle, path: &Path) -> Result<Kernels, LaunchError> {
        let device = gpu.host()?;
        if bundle.host()? != device {
            let name = bundle.manifest.emulated_on.as_ref().unwrap_or(&bundle.manifest.target);
            return Err(LaunchError::WrongTarget { bundle: name.clone(), device });
        }
        let target = bundle.target()?;
        bundle.verify_against_catalog(path)?;
        check_launcher_layouts(bundle)?;
        let mut variants = HashMap::new();
        let catalog = kernels::catalog();
        for entry in &bundle.manifest.variants {
            let module = gpu.load_module(bundle.code(entry))?;
            let function = gpu.function(module, &entry.symbol)?;
            // verify_against_catalog found every variant's family.
            let family = catalog.iter().find(|f| f.name == entry.family);
            let shared_bytes = family.map_or(0, |f| f.launch.dynamic_shared.items(entry.threads, target));
            if shared_bytes > 0 {
                gpu.allow_dynamic_shared(function, shared_bytes)?;
            }
            variants.insert(entry.key.clone(), Loaded { function, threads: entry.threads, shared_bytes });
        }
        let tuning = bundle.manifest.tuning.clone();
        Ok(Kernels { gpu: Rc::clone(gpu), target, host: device, catalog, variants, tuning })
    }

    pub fn gpu(&self) -> &Rc<dyn Gpu> {
        &self.gpu
    }

    pub fn target(&self) -> Target {
        self.target
    }

    pub fn host(&self) -> Host {
        self.host
    }

    /// The tuning table's rows for `family`.
    pub fn tuned<'a>(&'a self, family: &'a str) -> impl Iterator<Item = &'a Tuned> {
        self.tuning.iter().filter(move |row| row.family == family)
    }

    /// The values of `family`'s tuning axes for launches on `quant` weights (`None`: a family
    /// without a weight format) of shapes the table does not name.
    pub fn tuning_defaults(&self, family: &str, quant: Option<Quant>) -> Result<Choice, LaunchError> {
        let f = self.catalog.iter().find(|f| f.name == family).filter(|f| !f.tuning.is_empty());
        let f = f.ok_or_else(|| LaunchError::NotTuned(family.to_string()))?;
        let value = |t: &Tuning| quant.map_or(t.default, |q| t.default_for(q));
        Ok(Choice::new(f.tuning.iter().map(|t| (t.axis, value(t))).collect()))
    }

    /// The integer values of `family`'s axis `axis`, as the catalog lists them.
    pub fn axis_values(&self, family: &str, axis: &str) -> Vec<u32> {
        let f = self.catalog.iter().find(|f| f.name == family);
        f.and_then(|f| f.int_values(axis)).unwrap_or_default()
    }

    /// Elements that buffer `param` of `family` must hold for a launch of these sizes (scalars
    /// and integer axes), by the catalog's declaration: what a caller sizes a work buffer by.
    pub fn extent(&self, family: &str, param: &str, sizes: &[(&str, u64)]) -> Result<u64, LaunchError> {
        let fail = |why: String| LaunchError::Extent { family: family.to_string(), param: param.to_string(), why };
        let f = self.catalog.iter().find(|f| f.name == family).ok_or_else(|| fail("no such family".into()))?;
        let (_, expr) = f.extent_of(param).map_err(fail)?;
        let lookup = |name: &str| sizes.iter().find(|(n, _)| *n == name).map(|&(_, v)| i128::from(v));
        let need = expr.eval(&lookup).map_err(fail)?;
        u64::try_from(need).map_err(|_| fail(format!("{need} elements")))
    }

    /// Variant `key` of `family`, for launching (the generated launchers' `resolve`).
    pub fn resolve(&self, family: &str, key: &str) -> Result<Resolved, LaunchError> {
        let missing = || LaunchError::MissingVariant { key: key.to_string(), target: self.target, host: self.host };
        let loaded = self.variants.get(key).ok_or_else(missing)?;
        let f = self.catalog.iter().find(|f| f.name == family).ok_or_else(missing)?;
        Ok(Resolved {
            gpu: Rc::clone(&self.gpu),
            key: key.to_string(),
            function: loaded.function,
            threads: loaded.threads,
            shared_bytes: loaded.shared_bytes,
            launch: f.launch.clone(),
            target: self.target,
            maps: MapSlot::of_family(f),
        })
    }
}

/// Checks every code object of `bundle` against its family's generated `Kernarg` layout
/// (`launchers::LAYOUTS`): the same arguments, at the same offsets, of the same sizes, and on
/// AMD with the same names. Needs no GPU.
pub fn check_launcher_layouts(bundle: &Bundle) -> Result<(), LaunchError> {
    let host = bundle.host()?;
    for entry in &bundle.manifest.variants {
        let layout_error =
            |detail: String| LaunchError::Layout { family: entry.family.clone(), key: entry.key.clone(), detail };
        let Some((_, layout)) = LAYOUTS.iter().find(|(f, _)| *f == entry.family) else {
            return Err(layout_error("this build has no launcher for the family".into()));
        };
        let kernel = read_kernel(host, bundle.code(entry), &entry.compiler_log, &entry.symbol)?;
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

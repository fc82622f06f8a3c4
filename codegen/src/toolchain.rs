//! Finding the compilers and running them. AMD code objects come from clang/lld (ROCm's clang,
//! the one `hipcc` drives, when ROCm is installed; Debian's clang-22 otherwise); sm_90 cubins
//! from clang's PTX and ptxas. Results are cached by the hash of compiler, flags and source, so
//! an unchanged variant is never compiled twice.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::{Error, Host, Target, Vendor};

/// A compiler found on this machine, with its version line (recorded in every bundle).
#[derive(Debug, Clone)]
pub struct Tool {
    pub path: PathBuf,
    pub version: String,
}

#[derive(Debug, Clone)]
pub struct Toolchain {
    pub clang: Option<Tool>,
    pub ptxas: Option<Tool>,
    pub cache_dir: PathBuf,
}

/// What clang and ptxas compile the sm_90 target for: sm_90a, Hopper's architecture-specific
/// instructions (wgmma) on top of sm_90's. Such code objects load on sm_90 GPUs (H100, H200)
/// only, which is what the target is.
const NVIDIA_ARCH: &str = "sm_90a";

/// A compiled code object and what the compiler said (ptxas's `-v` report for sm_90).
#[derive(Debug, Clone)]
pub struct Compiled {
    pub code: Vec<u8>,
    pub log: String,
    pub cached: bool,
}

fn version_of(path: &Path, flag: &str) -> Option<String> {
    let out = Command::new(path).arg(flag).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    out.status
        .success()
        .then(|| text.lines().find(|l| l.contains("version") || l.contains("Build")).unwrap_or("").trim().to_string())
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
}

fn first_tool(candidates: impl IntoIterator<Item = PathBuf>, flag: &str) -> Option<Tool> {
    candidates
        .into_iter()
        .filter(|p| p.is_file())
        .find_map(|path| Some(Tool { version: version_of(&path, flag)?, path }))
}

/// The default cache: `$ROCMFORGE_CACHE` or `~/.cache/rocmforge`.
pub fn default_cache_root() -> PathBuf {
    std::env::var_os("ROCMFORGE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rocmforge")))
        .unwrap_or_else(|| std::env::temp_dir().join("rocmforge"))
}

impl Toolchain {
    /// Looks for clang (`$ROCMFORGE_CLANG`, ROCm's `llvm/bin/clang++`, `clang++-22`, `clang++`)
    /// and ptxas (`$ROCMFORGE_PTXAS`, `ptxas` on PATH, `$CUDA_HOME/bin`, /usr/local/cuda, the
    /// copy `scripts/install-toolchain.sh` puts in the cache).
    pub fn discover(cache_root: &Path) -> Toolchain {
        let env_path = |var: &str| std::env::var_os(var).map(PathBuf::from);
        let rocm = env_path("ROCM_PATH").unwrap_or_else(|| PathBuf::from("/opt/rocm"));
        let clang_candidates = [
            env_path("ROCMFORGE_CLANG"),
            Some(rocm.join("llvm/bin/clang++")),
            on_path("clang++-22"),
            on_path("clang++"),
        ];
        let installed_ptxas = std::fs::read_dir(cache_root.join("toolchain"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("nvidia/cu13/bin/ptxas"));
        let ptxas_candidates = [
            env_path("ROCMFORGE_PTXAS"),
            on_path("ptxas"),
            env_path("CUDA_HOME").map(|p| p.join("bin/ptxas")),
            Some(PathBuf::from("/usr/local/cuda/bin/ptxas")),
        ]
        .into_iter()
        .flatten()
        .chain(installed_ptxas);
        Toolchain {
            clang: first_tool(clang_candidates.into_iter().flatten(), "--version"),
            ptxas: first_tool(ptxas_candidates, "--version"),
            cache_dir: cache_root.join("kernels"),
        }
    }

    /// The tools a host needs, or an error that says which is missing.
    pub fn check(&self, target: Host) -> Result<(), Error> {
        let missing = |detail: &str| Error::Toolchain { target: target.to_string(), detail: detail.to_string() };
        let clang = self.clang.as_ref().ok_or_else(|| {
            missing("no clang++ found (looked at $ROCMFORGE_CLANG, $ROCM_PATH/llvm/bin, clang++-22, clang++)")
        })?;
        if target == Host::Gpu(Target::Gfx950) && !clang_at_least(&clang.version, 20) {
            return Err(missing(&format!("gfx950 needs clang 20 or newer; found {}", clang.version)));
        }
        if target.vendor() == Some(Vendor::Nvidia) && self.ptxas.is_none() {
            return Err(missing("no ptxas found (looked at $ROCMFORGE_PTXAS, PATH, $CUDA_HOME/bin, /usr/local/cuda/bin, the rocmforge cache)"));
        }
        Ok(())
    }

    /// Describes the compilers used for `target` (recorded in bundles).
    pub fn describe(&self, target: Host) -> String {
        let clang = self.clang.as_ref().map_or("none".to_string(), |t| format!("{} ({})", t.version, t.path.display()));
        match (target.vendor(), &self.ptxas) {
            (Some(Vendor::Nvidia), Some(p)) => format!("{clang}; ptxas {} ({})", p.version, p.path.display()),
            _ => clang,
        }
    }

    fn clang_args(target: Host, source: &Path, out: &Path) -> Vec<String> {
        let mut args: Vec<String> = match target.vendor() {
            Some(Vendor::Amd) => vec![
                "-x".into(),
                "hip".into(),
                "-nogpulib".into(),
                "-nogpuinc".into(),
                "--cuda-device-only".into(),
                "--no-gpu-bundle-output".into(),
                "-mcode-object-version=5".into(),
                "-fhip-kernel-arg-name".into(),
                format!("--offload-arch={}", target.name()),
            ],
            Some(Vendor::Nvidia) => vec![
                "-x".into(),
                "cuda".into(),
                "-nocudainc".into(),
                "-nocudalib".into(),
                "--cuda-device-only".into(),
                format!("--cuda-gpu-arch={NVIDIA_ARCH}"),
                // Without a CUDA install clang would target PTX 4.2, which lacks the *_sync shuffles.
                "--cuda-feature=+ptx80".into(),
                "-S".into(),
            ],
            // A shared library for the simulator: only its entry, `rf_sim_launch`, is exported.
            // F16C (every x86-64 since 2012) converts halves in one instruction, not a libgcc call.
            None => ["-x", "c++", "-shared", "-fPIC", "-fvisibility=hidden", "-pthread", "-mf16c"]
                .map(String::from)
                .to_vec(),
        };
        let optimize = if target == Host::Cpu { "-O2" } else { "-O3" };
        args.extend(["-std=c++17", optimize, "-Werror=return-type"].map(String::from));
        args.extend([source.display().to_string(), "-o".into(), out.display().to_string()]);
        args
    }

    /// Compiles one rendered source for `target` (from the cache when it was compiled before).
    pub fn compile(&self, target: Host, variant_key: &str, source: &str) -> Result<Compiled, Error> {
        self.check(target)?;
        let clang = self.clang.as_ref().expect("checked above");
        let mut hasher = Sha256::new();
        hasher.update(clang.version.as_bytes());
        if let (Some(Vendor::Nvidia), Some(p)) = (target.vendor(), &self.ptxas) {
            hasher.update(p.version.as_bytes());
        }
        hasher.update(Self::clang_args(target, Path::new("k"), Path::new("o")).join(" ").as_bytes());
        hasher.update(source.as_bytes());
        let key = hex(&hasher.finalize());
        let dir = self.cache_dir.join(target.name());
        let (code_path, log_path) = (dir.join(format!("{key}.co")), dir.join(format!("{key}.log")));
        if let Ok(code) = std::fs::read(&code_path) {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Ok(Compiled { code, log, cached: true });
        }
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let unique = unique_suffix();
        let work = dir.join(format!("{key}.tmp{unique}"));
        std::fs::create_dir_all(&work).map_err(Error::io(&work))?;
        let result = self.compile_in(&work, target, variant_key, source);
        let _ = std::fs::remove_dir_all(&work);
        let compiled = result?;
        // Written under a temporary name and renamed, so a concurrent build never reads half a file.
        for (path, bytes) in [(&log_path, compiled.log.as_bytes()), (&code_path, &compiled.code[..])] {
            let tmp = path.with_extension(format!("part{unique}"));
            std::fs::write(&tmp, bytes).map_err(Error::io(&tmp))?;
            std::fs::rename(&tmp, path).map_err(Error::io(path))?;
        }
        Ok(compiled)
    }

    fn compile_in(&self, work: &Path, target: Host, variant_key: &str, source: &str) -> Result<Compiled, Error> {
        let clang = self.clang.as_ref().expect("checked by compile");
        let src = work.join("kernel.hip");
        std::fs::write(&src, source).map_err(Error::io(&src))?;
        let first_out = work.join(if target.vendor() == Some(Vendor::Nvidia) { "kernel.ptx" } else { "kernel.co" });
        let mut clang_cmd = Command::new(&clang.path);
        clang_cmd.args(Self::clang_args(target, &src, &first_out));
        // clang would find a CUDA install through ptxas on PATH and warn that it is unsupported.
        clang_cmd.env_remove("CUDA_PATH").env_remove("CUDA_HOME");
        run(&mut clang_cmd, variant_key)?;
        if target.vendor() != Some(Vendor::Nvidia) {
            let code = std::fs::read(&first_out).map_err(Error::io(&first_out))?;
            return Ok(Compiled { code, log: String::new(), cached: false });
        }
        let ptxas = self.ptxas.as_ref().expect("checked by compile");
        let cubin = work.join("kernel.cubin");
        let mut ptxas_cmd = Command::new(&ptxas.path);
        ptxas_cmd.args(["-v", "-O3", &format!("-arch={NVIDIA_ARCH}")]).arg(&first_out).arg("-o").arg(&cubin);
        let log = run(&mut ptxas_cmd, variant_key)?;
        let code = std::fs::read(&cubin).map_err(Error::io(&cubin))?;
        Ok(Compiled { code, log, cached: false })
    }
}

/// A name part no other compile, in this process (threads of a parallel build or test) or
/// another, uses at the same time.
fn unique_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// Runs a compiler; its stderr is the log (ptxas writes `-v` there).
fn run(cmd: &mut Command, variant_key: &str) -> Result<String, Error> {
    let command = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| Error::Compile {
        variant: variant_key.to_string(),
        command: command.clone(),
        log: e.to_string(),
    })?;
    let log = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::Compile { variant: variant_key.to_string(), command, log });
    }
    Ok(log)
}

fn clang_at_least(version: &str, major: u32) -> bool {
    version
        .split("version ")
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.trim().parse::<u32>().ok())
        .is_some_and(|m| m >= major)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clang_versions_parse() {
        assert!(clang_at_least("Debian clang version 22.1.8 (1~deb12u1)", 20));
        assert!(!clang_at_least("Debian clang version 19.1.7 (3)", 20));
        assert!(clang_at_least(
            "AMD clang version 20.0.0git (https://github.com/RadeonOpenCompute/llvm-project roc-6.4.0)",
            20
        ));
        assert!(!clang_at_least("garbage", 20));
    }
}

//! Compile targets and their capabilities (AMD ISA manuals; CUDA programming guide for sm_90).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vendor {
    Amd,
    Nvidia,
}

/// The instruction family a target's matrix multiply-accumulate kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatrixUnit {
    /// RDNA3 `v_wmma_*` (wave32).
    Wmma,
    /// CDNA `v_mfma_*` (wave64).
    Mfma,
    /// Hopper `mma.sync` / `wgmma`.
    Mma,
}

impl MatrixUnit {
    /// The name the templates branch on.
    pub fn name(self) -> &'static str {
        match self {
            MatrixUnit::Wmma => "wmma",
            MatrixUnit::Mfma => "mfma",
            MatrixUnit::Mma => "mma",
        }
    }
}

/// A GPU architecture kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// RDNA3 (Radeon RX 7900): wave32 by default.
    Gfx1100,
    /// CDNA3 (MI300).
    Gfx942,
    /// CDNA4 (MI350/MI355).
    Gfx950,
    /// NVIDIA Hopper (H100/H200).
    Sm90,
}

impl Target {
    pub const ALL: [Target; 4] = [Target::Gfx1100, Target::Gfx942, Target::Gfx950, Target::Sm90];

    pub fn name(self) -> &'static str {
        match self {
            Target::Gfx1100 => "gfx1100",
            Target::Gfx942 => "gfx942",
            Target::Gfx950 => "gfx950",
            Target::Sm90 => "sm_90",
        }
    }

    pub fn vendor(self) -> Vendor {
        match self {
            Target::Sm90 => Vendor::Nvidia,
            _ => Vendor::Amd,
        }
    }

    /// Threads that execute in lock-step: a wavefront on AMD, a warp on NVIDIA.
    pub fn wave_size(self) -> u32 {
        match self {
            Target::Gfx1100 | Target::Sm90 => 32,
            Target::Gfx942 | Target::Gfx950 => 64,
        }
    }

    /// Whether the target's MFMA takes K = 32 (gfx950's `v_mfma_f32_16x16x32_f16`, twice
    /// CDNA3's K of 16 per instruction).
    pub fn mfma_k32(self) -> bool {
        self == Target::Gfx950
    }

    pub fn matrix_unit(self) -> MatrixUnit {
        match self {
            Target::Gfx1100 => MatrixUnit::Wmma,
            Target::Gfx942 | Target::Gfx950 => MatrixUnit::Mfma,
            Target::Sm90 => MatrixUnit::Mma,
        }
    }

    /// Shared memory (LDS) one workgroup may allocate, in bytes, static and dynamic together
    /// (on sm_90 the dynamic part beyond 48 KiB once the kernel opts in at load).
    pub fn max_lds_bytes(self) -> u32 {
        match self {
            Target::Gfx1100 | Target::Gfx942 => 64 * 1024,
            Target::Gfx950 => 160 * 1024,
            Target::Sm90 => 227 * 1024,
        }
    }

    /// Of that, what a kernel may declare statically: NVIDIA allows 48 KiB (ptxas accepts more;
    /// the launch would not).
    pub fn max_static_lds_bytes(self) -> u32 {
        match self {
            Target::Sm90 => 48 * 1024,
            _ => self.max_lds_bytes(),
        }
    }

    /// Whether the target has native OCP FP8/FP4 conversions (CDNA4 and Hopper's FP8).
    pub fn has_ocp_fp8(self) -> bool {
        matches!(self, Target::Gfx950 | Target::Sm90)
    }
}

/// Where a variant's code runs: natively on its target GPU, or on a host that emulates the
/// target's wave (`Variant::emulated_on`): the H200, or this machine's CPU, whose kernel
/// simulator (`templates/prelude/cpu.h`) runs each GPU thread as a fiber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    Gpu(Target),
    Cpu,
}

impl Host {
    pub fn name(self) -> &'static str {
        match self {
            Host::Gpu(t) => t.name(),
            Host::Cpu => "cpu",
        }
    }

    /// This host, when it runs `target`'s algorithms with their wave emulated; none when it is
    /// `target` itself.
    pub fn emulating(self, target: Target) -> Option<Host> {
        (self != Host::Gpu(target)).then_some(self)
    }

    /// The GPU vendor whose compiler builds the code; none for the CPU.
    pub fn vendor(self) -> Option<Vendor> {
        match self {
            Host::Gpu(t) => Some(t.vendor()),
            Host::Cpu => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown host {0:?} (known: cpu, {known})", known = target_names())]
pub struct UnknownHost(pub String);

impl FromStr for Host {
    type Err = UnknownHost;

    /// A target's name, or `cpu`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "cpu" {
            return Ok(Host::Cpu);
        }
        s.parse().map(Host::Gpu).map_err(|_| UnknownHost(s.to_string()))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown target {0:?} (known: {known})", known = target_names())]
pub struct UnknownTarget(pub String);

/// `Target::ALL`'s names, for error messages.
fn target_names() -> String {
    Target::ALL.map(Target::name).join(", ")
}

impl FromStr for Target {
    type Err = UnknownTarget;

    /// Accepts the plain names and AMD target ids with feature suffixes (`gfx942:sramecc+:xnack-`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let base = s.split(':').next().unwrap_or(s);
        Target::ALL
            .into_iter()
            .find(|t| t.name() == base || (base == "sm90" && *t == Target::Sm90))
            .ok_or_else(|| UnknownTarget(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_feature_suffixes_parse() {
        for t in Target::ALL {
            assert_eq!(t.name().parse::<Target>().unwrap(), t);
        }
        assert_eq!("gfx942:sramecc+:xnack-".parse::<Target>().unwrap(), Target::Gfx942);
        assert!("gfx906".parse::<Target>().unwrap_err().to_string().contains("gfx906"));
        assert_eq!("cpu".parse::<Host>().unwrap(), Host::Cpu);
        assert_eq!("sm_90".parse::<Host>().unwrap(), Host::Gpu(Target::Sm90));
        assert!("cuda".parse::<Host>().unwrap_err().to_string().contains("known: cpu"));
    }

    #[test]
    fn wave_sizes_follow_the_architecture() {
        assert_eq!(Target::Gfx1100.wave_size(), 32);
        assert_eq!(Target::Gfx942.wave_size(), 64);
        assert_eq!(Target::Gfx950.wave_size(), 64);
        assert_eq!(Target::Sm90.wave_size(), 32);
    }
}

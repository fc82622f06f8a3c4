//! Finding a GPU: HIP (the product's target) and CUDA (where the kernels are measured), each
//! loaded at run time; without either, the reasons say what is missing. `sim`, the CPU's kernel
//! simulator (`backend::sim`), is opened only when named.

use std::fmt;
use std::rc::Rc;
use std::str::FromStr;

use super::{Gpu, GpuError};
use crate::backend::{cuda, hip, sim};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuKind {
    Hip,
    Cuda,
    /// The CPU's kernel simulator: device `sim:N` runs the algorithms of the N-th of
    /// `sim::TARGETS` (gfx1100, gfx942, gfx950), from that target's `-on-cpu` bundle.
    Sim,
}

impl GpuKind {
    /// The GPUs looked for when none is named.
    pub const ALL: [GpuKind; 2] = [GpuKind::Hip, GpuKind::Cuda];
    const NAMED: [GpuKind; 3] = [GpuKind::Hip, GpuKind::Cuda, GpuKind::Sim];

    pub fn name(self) -> &'static str {
        match self {
            GpuKind::Hip => "hip",
            GpuKind::Cuda => "cuda",
            GpuKind::Sim => "sim",
        }
    }

    pub fn open(self) -> Result<Rc<dyn Gpu>, GpuError> {
        self.open_ordinal(0)
    }

    /// Device `ordinal` of this runtime.
    pub fn open_ordinal(self, ordinal: usize) -> Result<Rc<dyn Gpu>, GpuError> {
        Ok(match self {
            GpuKind::Hip => Rc::new(hip::open(ordinal)?),
            GpuKind::Cuda => Rc::new(cuda::open(ordinal)?),
            GpuKind::Sim => {
                let target = sim::TARGETS.get(ordinal).copied().ok_or_else(|| {
                    let devices: Vec<String> =
                        sim::TARGETS.iter().enumerate().map(|(i, t)| format!("sim:{i} ({t})")).collect();
                    GpuError::Unavailable(format!("no simulator device {ordinal}: {}", devices.join(", ")))
                })?;
                Rc::new(sim::open(target)?)
            }
        })
    }
}

impl fmt::Display for GpuKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for GpuKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GpuKind::NAMED
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown GPU kind {s:?} (known: hip, cuda, sim)"))
    }
}

/// The GPU of `kind`, or the first that opens (HIP, then CUDA).
pub fn open_gpu(kind: Option<GpuKind>) -> Result<Rc<dyn Gpu>, GpuError> {
    if let Some(kind) = kind {
        return kind.open();
    }
    let mut reasons = Vec::new();
    for kind in GpuKind::ALL {
        match kind.open() {
            Ok(gpu) => return Ok(gpu),
            Err(e) => reasons.push(format!("{kind}: {e}")),
        }
    }
    Err(GpuError::Unavailable(format!("no GPU found ({})", reasons.join("; "))))
}

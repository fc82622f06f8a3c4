//! Reading compiled code objects: what each kernel in them takes (the kernarg layout) and uses
//! (registers, shared memory, scratch, wave size). AMD code objects carry it in the
//! `.amdhsa.kernels` metadata note; NVIDIA cubins in `.nv.info` sections and ptxas's report.
//! The CPU simulator's shared libraries export their kernarg layout beside their entry point.

mod amd;
mod cpu;
mod cubin;

pub use amd::read_amd;
pub use cpu::{read_cpu, SIMULATOR_ENTRY, SIMULATOR_KERNARGS};
pub use cubin::{read_cubin, PtxasReport};

use serde::{Deserialize, Serialize};

/// One explicit kernel argument as the code object lays it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgInfo {
    /// The source name, where the object records it (AMD with `-fhip-kernel-arg-name`).
    pub name: Option<String>,
    pub offset: u32,
    pub size: u32,
    /// Pointer (`global_buffer`) or by-value; NVIDIA cubins don't say.
    pub pointer: Option<bool>,
    /// AMD's `.actual_access` for pointers: `read_only`, `write_only`, `read_write`.
    pub access: Option<String>,
}

/// A kernel's resource use, as the code object reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Vector registers per lane (AMD: arch VGPRs; NVIDIA: registers per thread).
    pub vgprs: u32,
    /// AMD accumulation registers (CDNA); 0 elsewhere.
    pub agprs: u32,
    /// AMD scalar registers; 0 on NVIDIA.
    pub sgprs: u32,
    /// Static shared memory (LDS) per workgroup, bytes.
    pub lds_bytes: u32,
    /// Private (scratch / local) memory per lane, bytes: stack frames, spills, private arrays.
    pub scratch_bytes: u32,
    /// Registers spilled (AMD: VGPR + SGPR spill counts; NVIDIA: spill-store bytes / 4).
    pub spills: u32,
    pub max_threads: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelInfo {
    pub name: String,
    pub args: Vec<ArgInfo>,
    pub wave_size: u32,
    pub resources: Resources,
}

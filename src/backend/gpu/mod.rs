//! GPUs: what kernel runners need from one (`Gpu`: memory, copies, code objects, launches with
//! a packed kernarg buffer), typed buffers, bundles loaded on a device (`Kernels`) and the typed
//! launchers generated from the kernel catalog (`launchers`). CUDA and HIP implement `Gpu`.

mod buffer;
pub mod bundles;
pub(crate) mod dl;
mod kernels;
pub mod launchers;
mod open;

pub use buffer::{DeviceBuffer, DeviceElem, QuantBlock};
pub use half::f16;
pub use kernels::{check_launcher_layouts, Kernels, LaunchError};
pub use open::{open_gpu, GpuKind};
use rocmforge_codegen::Target;

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{call} failed: {code}")]
    Driver { call: &'static str, code: String },
    #[error("kernel `{0}` is not in the code object")]
    MissingKernel(String),
    #[error("a {bytes}-byte copy does not fit a {capacity}-byte buffer")]
    Size { bytes: usize, capacity: usize },
}

/// An untyped device allocation; freed by the device that made it (`DeviceBuffer` does that
/// on drop).
#[derive(Debug)]
pub struct RawBuffer {
    pub ptr: u64,
    pub bytes: usize,
}

/// A loaded code object.
#[derive(Debug, Clone, Copy)]
pub struct ModuleHandle(pub u64);

pub trait Gpu {
    /// Name and architecture, for reports.
    fn describe(&self) -> String;
    fn target(&self) -> Result<Target, GpuError>;
    fn alloc(&self, bytes: usize) -> Result<RawBuffer, GpuError>;
    fn free(&self, buf: RawBuffer) -> Result<(), GpuError>;
    fn upload(&self, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError>;
    fn download(&self, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError>;
    /// Sets every byte of `dst` (used to poison outputs before a launch).
    fn fill(&self, dst: &RawBuffer, byte: u8) -> Result<(), GpuError>;
    fn load_module(&self, code: &[u8]) -> Result<ModuleHandle, GpuError>;
    /// Launches `symbol` with the kernarg bytes laid out as the catalog says, and waits.
    fn launch(
        &self,
        module: ModuleHandle,
        symbol: &str,
        grid: [u32; 3],
        block: u32,
        kernargs: &[u8],
    ) -> Result<(), GpuError>;
}

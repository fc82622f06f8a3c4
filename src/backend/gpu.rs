//! What the kernel runners need from a GPU: memory, copies, code objects, launches with a
//! packed kernarg buffer. CUDA implements it today; HIP has the same shape (its
//! `hipModuleLaunchKernel` takes the same packed-buffer `extra` argument).

use rocmforge_codegen::Target;

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{call} failed: {code}")]
    Driver { call: &'static str, code: String },
    #[error("kernel `{0}` is not in the code object")]
    MissingKernel(String),
}

/// A device allocation; freed by the device that made it.
#[derive(Debug)]
pub struct DeviceBuffer {
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
    fn alloc(&self, bytes: usize) -> Result<DeviceBuffer, GpuError>;
    fn free(&self, buf: DeviceBuffer) -> Result<(), GpuError>;
    fn upload(&self, dst: &DeviceBuffer, src: &[u8]) -> Result<(), GpuError>;
    fn download(&self, src: &DeviceBuffer, dst: &mut [u8]) -> Result<(), GpuError>;
    /// Sets every byte of `dst` (used to poison outputs before a launch).
    fn fill(&self, dst: &DeviceBuffer, byte: u8) -> Result<(), GpuError>;
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

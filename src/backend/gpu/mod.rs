//! GPUs: what kernel runners need from one (`Gpu`: memory, copies, code objects, launches with
//! a packed kernarg buffer), typed buffers and their views, bundles loaded on a device
//! (`Kernels`) and the typed launchers generated from the kernel catalog (`launchers`). CUDA and HIP share one
//! implementation of `Gpu` (`driver`).

mod buffer;
pub mod bundles;
pub(crate) mod dl;
pub(crate) mod driver;
pub mod engine;
mod kernels;
pub mod launchers;
mod open;
pub mod tuning;
mod view;

pub use crate::quant::blocks;
pub use crate::quant::blocks::BlockQ8_1;
pub use buffer::{DeviceBuffer, DeviceElem, Pending, QuantBlock};
pub use half::f16;
pub use kernels::{check_extent, check_launcher_layouts, Kernels, LaunchError, Resolved};
pub use open::{open_gpu, GpuKind};
use rocmforge_codegen::catalog::TENSOR_MAP_BYTES;
pub use rocmforge_codegen::{Host, Quant, Target};
pub use view::{View, ViewMut};

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{call} failed: {code}")]
    Driver { call: String, code: String },
    #[error("kernel `{0}` is not in the code object")]
    MissingKernel(String),
    #[error("a {bytes}-byte copy does not fit a {capacity}-byte buffer")]
    Size { bytes: usize, capacity: usize },
    #[error("a copy of {len} elements from {src_at} to {dst_at} overlaps itself")]
    Overlap { src_at: usize, dst_at: usize, len: usize },
}

/// An untyped device allocation; freed by the device that made it (`DeviceBuffer` does that
/// on drop).
#[derive(Debug)]
pub struct RawBuffer {
    pub ptr: u64,
    pub bytes: usize,
}

/// Handles a `Gpu` gives out; meaningful only to the GPU that made them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleHandle(pub u64);
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionHandle(pub u64);
/// A stream of work; `StreamHandle::DEFAULT` is the device's default stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHandle(pub u64);
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHandle(pub u64);
/// A captured and instantiated graph of launches, replayed with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphHandle(pub u64);

impl StreamHandle {
    pub const DEFAULT: StreamHandle = StreamHandle(0);
}

/// A tensor map as a kernel takes it by value (`rf_tensor_map`, NVIDIA's opaque `CUtensorMap`),
/// aligned in the kernargs as `catalog::TENSOR_MAP_ALIGN` says.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorMap(pub [u8; TENSOR_MAP_BYTES as usize]);

impl TensorMap {
    pub const ZERO: TensorMap = TensorMap([0; TENSOR_MAP_BYTES as usize]);

    /// Its bytes, as the launchers pack every argument.
    pub fn to_le_bytes(self) -> [u8; TENSOR_MAP_BYTES as usize] {
        self.0
    }
}

/// A row-major f16 matrix in device memory, copied into shared memory in boxes: what
/// `catalog::TensorMapOf` declares, with the launch's address and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorMapSpec {
    pub address: u64,
    pub rows: u64,
    pub cols: u64,
    pub box_rows: u32,
    pub box_cols: u32,
}

pub trait Gpu {
    /// Name and architecture, for reports.
    fn describe(&self) -> String;
    /// The architecture whose kernels it runs.
    fn target(&self) -> Result<Target, GpuError>;
    /// Where its code objects run: the GPU itself, or the CPU for the kernel simulator.
    fn host(&self) -> Result<Host, GpuError> {
        self.target().map(Host::Gpu)
    }
    fn alloc(&self, bytes: usize) -> Result<RawBuffer, GpuError>;
    fn free(&self, buf: RawBuffer) -> Result<(), GpuError>;
    /// Copies to the device; returns when `src` may be reused (ordered after the default stream).
    fn upload(&self, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError>;
    /// Copies from the device once the default stream's work is done.
    fn download(&self, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError>;
    /// Enqueues a copy to the device on `stream`.
    ///
    /// # Safety
    /// `src` must stay alive and unchanged until `stream` has been synchronized
    /// (`DeviceBuffer::upload_async` enforces this with a borrow).
    unsafe fn upload_async(&self, stream: StreamHandle, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError>;
    /// Enqueues a copy from the device on `stream`.
    ///
    /// # Safety
    /// `dst` must stay alive and untouched until `stream` has been synchronized.
    unsafe fn download_async(&self, stream: StreamHandle, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError>;
    /// Sets every byte of `dst` (used to poison outputs before a launch).
    fn fill(&self, dst: &RawBuffer, byte: u8) -> Result<(), GpuError>;
    /// Enqueues a copy of `bytes` between two device buffers, each given with a byte offset;
    /// both ranges are checked against the buffers.
    fn copy_within_device(
        &self,
        stream: StreamHandle,
        dst: (&RawBuffer, usize),
        src: (&RawBuffer, usize),
        bytes: usize,
    ) -> Result<(), GpuError>;
    /// Free and total device memory in bytes.
    fn memory(&self) -> Result<(u64, u64), GpuError>;
    /// Its compute units (SMs), where the driver says (CUDA; not yet asked of HIP, whose
    /// attribute numbering changed between ROCm releases).
    fn compute_units(&self) -> Option<u32> {
        None
    }
    fn load_module(&self, code: &[u8]) -> Result<ModuleHandle, GpuError>;
    fn function(&self, module: ModuleHandle, symbol: &str) -> Result<FunctionHandle, GpuError>;
    /// Lets `function` take `bytes` of dynamic shared memory a workgroup (CUDA asks a kernel to
    /// opt in beyond 48 KiB); called once, when the code object loads.
    fn allow_dynamic_shared(&self, _function: FunctionHandle, _bytes: u32) -> Result<(), GpuError> {
        Ok(())
    }
    /// Enqueues a launch with the kernarg bytes laid out as the catalog says and `shared_bytes`
    /// of dynamic shared memory a workgroup; does not wait.
    fn enqueue(
        &self,
        stream: StreamHandle,
        function: FunctionHandle,
        grid: [u32; 3],
        block: u32,
        shared_bytes: u32,
        kernargs: &[u8],
    ) -> Result<(), GpuError>;
    /// The tensor map (`CUtensorMap`) of `map`, for the kernels that copy by TMA. A device
    /// without those copies gets zeros: its kernels take the parameter and do not read it.
    fn tensor_map(&self, _map: &TensorMapSpec) -> Result<TensorMap, GpuError> {
        Ok(TensorMap::ZERO)
    }
    /// Waits for `stream`'s work; launch errors surface here.
    fn synchronize(&self, stream: StreamHandle) -> Result<(), GpuError>;
    fn create_stream(&self) -> Result<StreamHandle, GpuError>;
    fn destroy_stream(&self, stream: StreamHandle) -> Result<(), GpuError>;
    fn create_event(&self) -> Result<EventHandle, GpuError>;
    fn record(&self, event: EventHandle, stream: StreamHandle) -> Result<(), GpuError>;
    /// Milliseconds between two recorded events (waits for `end`).
    fn elapsed_ms(&self, start: EventHandle, end: EventHandle) -> Result<f32, GpuError>;
    fn destroy_event(&self, event: EventHandle) -> Result<(), GpuError>;
    /// Starts recording `stream`'s launches into a graph instead of running them.
    fn begin_capture(&self, stream: StreamHandle) -> Result<(), GpuError>;
    /// Ends the recording and instantiates the graph.
    fn end_capture(&self, stream: StreamHandle) -> Result<GraphHandle, GpuError>;
    fn launch_graph(&self, graph: GraphHandle, stream: StreamHandle) -> Result<(), GpuError>;
    fn destroy_graph(&self, graph: GraphHandle) -> Result<(), GpuError>;
}

//! The GPU driver calls CUDA's driver API and HIP have in common: the same C signatures under
//! other names (`cuMemAlloc_v2` / `hipMalloc`, …). One table of entry points, one `Gpu`
//! implementation; `backend::cuda` and `backend::hip` only find and open their device.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

use libloading::Library;
use rocmforge_codegen::Target;

use super::{
    dl, EventHandle, FunctionHandle, Gpu, GpuError, GraphHandle, ModuleHandle, RawBuffer, StreamHandle, TensorMap,
    TensorMapSpec,
};

/// Which runtime a driver library is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Cuda,
    Hip,
}

/// Status codes: 0 is success in both runtimes.
type Status = c_int;

/// `cuLaunchKernelEx`'s configuration (CUDA 12's `CUlaunchConfig`).
#[repr(C)]
struct LaunchConfig {
    grid: [c_uint; 3],
    block: [c_uint; 3],
    shared_bytes: c_uint,
    stream: u64,
    attrs: *mut LaunchAttribute,
    n_attrs: c_uint,
}

/// `CUlaunchAttribute`: an id, then a 64-byte union of values.
#[repr(C)]
struct LaunchAttribute {
    id: c_int,
    _pad: [u8; 4],
    value: [u8; 64],
}

/// `CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION`.
const ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: c_int = 6;

type LaunchKernelEx = unsafe extern "C" fn(*const LaunchConfig, u64, *mut *mut c_void, *mut *mut c_void) -> Status;

/// Programmatic dependent launch (CUDA 12, sm_90): a kernel launched with the
/// stream-serialization attribute may start while the kernel before it finishes. Every kernel
/// template calls `rf_wait_prior_kernels()` (templates/prelude) before it touches memory an
/// earlier kernel writes, so what overlaps is the launch, and the weight loads issued before that
/// call: decode's gaps between kernels. `ROCMFORGE_PDL=0` turns it off (to measure it).
fn programmatic_launch(lib: &Library, runtime: Runtime) -> Option<LaunchKernelEx> {
    if runtime != Runtime::Cuda || std::env::var("ROCMFORGE_PDL").is_ok_and(|v| v == "0") {
        return None;
    }
    // SAFETY: CUDA 12's declaration of cuLaunchKernelEx; older drivers lack it and launch plainly.
    unsafe { dl::entry::<LaunchKernelEx>(lib, "cuLaunchKernelEx") }.ok()
}

type FuncSetAttribute = unsafe extern "C" fn(u64, c_int, c_int) -> Status;
/// `cuTensorMapEncodeTiled(map, dtype, rank, address, dims, strides, box, element strides,
/// interleave, swizzle, L2 promotion, out-of-bounds fill)`.
type TensorMapEncodeTiled = unsafe extern "C" fn(
    *mut TensorMap,
    c_int,
    c_uint,
    *mut c_void,
    *const u64,
    *const u64,
    *const c_uint,
    *const c_uint,
    c_int,
    c_int,
    c_int,
    c_int,
) -> Status;

/// `CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES`.
const ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: c_int = 8;
/// `CU_TENSOR_MAP_DATA_TYPE_FLOAT16`.
const TENSOR_MAP_FLOAT16: c_int = 6;
/// `CU_TENSOR_MAP_L2_PROMOTION_L2_128B`: a box's rows are 64 or 128 bytes.
const TENSOR_MAP_L2_PROMOTION_128B: c_int = 2;

/// CUDA's calls that HIP lacks or that the kernels need only on NVIDIA: dynamic shared memory
/// beyond 48 KiB, and tensor maps (CUDA 12).
struct CudaOnly {
    func_set_attribute: FuncSetAttribute,
    tensor_map_encode_tiled: Option<TensorMapEncodeTiled>,
}

impl CudaOnly {
    fn load(lib: &Library, runtime: Runtime) -> Result<Option<CudaOnly>, GpuError> {
        if runtime != Runtime::Cuda {
            return Ok(None);
        }
        // SAFETY: the CUDA driver API's declarations of these symbols.
        let func_set_attribute = unsafe { dl::entry::<FuncSetAttribute>(lib, "cuFuncSetAttribute") }?;
        // SAFETY: as above; drivers before CUDA 12 lack it, and then no tensor map can be made.
        let tensor_map_encode_tiled = unsafe { dl::entry::<TensorMapEncodeTiled>(lib, "cuTensorMapEncodeTiled") }.ok();
        Ok(Some(CudaOnly { func_set_attribute, tensor_map_encode_tiled }))
    }
}

macro_rules! shared_entry_points {
    ($($field:ident: fn($($arg:ty),*) = $cuda:literal | $hip:literal;)*) => {
        /// Each shared entry point with its symbol name (errors name the real call).
        pub struct EntryPoints {
            $($field: (unsafe extern "C" fn($($arg),*) -> Status, &'static str),)*
        }

        impl EntryPoints {
            pub fn load(lib: &Library, runtime: Runtime) -> Result<Self, GpuError> {
                Ok(EntryPoints {
                    $($field: {
                        let name = match runtime { Runtime::Cuda => $cuda, Runtime::Hip => $hip };
                        // SAFETY: both runtimes declare this symbol with this signature (handles
                        // are pointers, passed as u64).
                        (unsafe { dl::entry(lib, name) }?, name)
                    },)*
                })
            }
        }
    };
}

shared_entry_points! {
    module_load_data: fn(*mut u64, *const c_void) = "cuModuleLoadData" | "hipModuleLoadData";
    module_get_function: fn(*mut u64, u64, *const c_char) = "cuModuleGetFunction" | "hipModuleGetFunction";
    malloc: fn(*mut u64, usize) = "cuMemAlloc_v2" | "hipMalloc";
    free: fn(u64) = "cuMemFree_v2" | "hipFree";
    memcpy_htod: fn(u64, *const c_void, usize) = "cuMemcpyHtoD_v2" | "hipMemcpyHtoD";
    memcpy_dtoh: fn(*mut c_void, u64, usize) = "cuMemcpyDtoH_v2" | "hipMemcpyDtoH";
    memcpy_htod_async: fn(u64, *const c_void, usize, u64) = "cuMemcpyHtoDAsync_v2" | "hipMemcpyHtoDAsync";
    memcpy_dtoh_async: fn(*mut c_void, u64, usize, u64) = "cuMemcpyDtoHAsync_v2" | "hipMemcpyDtoHAsync";
    memset_d8: fn(u64, u8, usize) = "cuMemsetD8_v2" | "hipMemsetD8";
    memcpy_dtod_async: fn(u64, u64, usize, u64) = "cuMemcpyDtoDAsync_v2" | "hipMemcpyDtoDAsync";
    mem_get_info: fn(*mut usize, *mut usize) = "cuMemGetInfo_v2" | "hipMemGetInfo";
    launch_kernel: fn(u64, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, u64, *mut *mut c_void, *mut *mut c_void)
        = "cuLaunchKernel" | "hipModuleLaunchKernel";
    stream_create: fn(*mut u64, c_uint) = "cuStreamCreate" | "hipStreamCreateWithFlags";
    stream_destroy: fn(u64) = "cuStreamDestroy_v2" | "hipStreamDestroy";
    stream_synchronize: fn(u64) = "cuStreamSynchronize" | "hipStreamSynchronize";
    event_create: fn(*mut u64, c_uint) = "cuEventCreate" | "hipEventCreateWithFlags";
    event_record: fn(u64, u64) = "cuEventRecord" | "hipEventRecord";
    event_synchronize: fn(u64) = "cuEventSynchronize" | "hipEventSynchronize";
    event_elapsed_time: fn(*mut f32, u64, u64) = "cuEventElapsedTime" | "hipEventElapsedTime";
    event_destroy: fn(u64) = "cuEventDestroy_v2" | "hipEventDestroy";
    stream_begin_capture: fn(u64, c_int) = "cuStreamBeginCapture_v2" | "hipStreamBeginCapture";
    stream_end_capture: fn(u64, *mut u64) = "cuStreamEndCapture" | "hipStreamEndCapture";
    graph_instantiate: fn(*mut u64, u64, u64) = "cuGraphInstantiateWithFlags" | "hipGraphInstantiateWithFlags";
    graph_launch: fn(u64, u64) = "cuGraphLaunch" | "hipGraphLaunch";
    graph_destroy: fn(u64) = "cuGraphDestroy" | "hipGraphDestroy";
    graph_exec_destroy: fn(u64) = "cuGraphExecDestroy" | "hipGraphExecDestroy";
}

// `extra` markers of the launch call: the arguments come as one packed buffer. The end marker
// differs (CU_LAUNCH_PARAM_END is 0, HIP_LAUNCH_PARAM_END 3).
const LAUNCH_PARAM_BUFFER_POINTER: *mut c_void = std::ptr::without_provenance_mut(1);
const LAUNCH_PARAM_BUFFER_SIZE: *mut c_void = std::ptr::without_provenance_mut(2);
/// Other threads' driver calls are not restricted while a stream records a graph.
const STREAM_CAPTURE_MODE_RELAXED: c_int = 2;

/// How a runtime turns a status into a name.
pub enum ErrorNames {
    /// `cuGetErrorName(status, &name)`.
    Cuda(unsafe extern "C" fn(Status, *mut *const c_char) -> Status),
    /// `hipGetErrorName(status) -> name`.
    Hip(unsafe extern "C" fn(Status) -> *const c_char),
}

/// An opened device of either runtime.
pub struct Driver {
    api: EntryPoints,
    cuda: Option<CudaOnly>,
    launch_ex: Option<LaunchKernelEx>,
    runtime: Runtime,
    errors: ErrorNames,
    description: String,
    target: Result<Target, String>,
    compute_units: Option<u32>,
    // Keeps the entry points valid.
    _lib: Library,
}

impl Driver {
    pub fn new(
        lib: Library,
        runtime: Runtime,
        errors: ErrorNames,
        description: String,
        target: Result<Target, String>,
    ) -> Result<Driver, GpuError> {
        let api = EntryPoints::load(&lib, runtime)?;
        let cuda = CudaOnly::load(&lib, runtime)?;
        let launch_ex = programmatic_launch(&lib, runtime);
        Ok(Driver { api, cuda, launch_ex, runtime, errors, description, target, compute_units: None, _lib: lib })
    }

    /// The device's compute units, as its runtime reports them.
    pub fn with_compute_units(self, n: u32) -> Driver {
        Driver { compute_units: Some(n), ..self }
    }

    /// `Ok` for status 0, else an error naming the call and the status.
    pub fn check(&self, call: &str, status: Status) -> Result<(), GpuError> {
        check_with(&self.errors, call, status)
    }
}

/// As `Driver::check`, for the calls a runtime makes before its `Driver` exists.
pub fn check_with(errors: &ErrorNames, call: &str, status: Status) -> Result<(), GpuError> {
    if status == 0 {
        return Ok(());
    }
    let mut name: *const c_char = std::ptr::null();
    match errors {
        // SAFETY: writes a pointer to a static string, or fails.
        ErrorNames::Cuda(f) => {
            if unsafe { f(status, &mut name) } != 0 {
                name = std::ptr::null();
            }
        }
        // SAFETY: returns a static string or null.
        ErrorNames::Hip(f) => name = unsafe { f(status) },
    }
    let code = if name.is_null() {
        format!("error {status}")
    } else {
        // SAFETY: non-null, static and NUL-terminated.
        format!("{} ({status})", unsafe { CStr::from_ptr(name) }.to_string_lossy())
    };
    Err(GpuError::Driver { call: call.to_string(), code })
}

/// Calls entry point `$field` of `$self.api` with `$args`, checking its status.
macro_rules! call {
    ($self:ident . $field:ident ($($arg:expr),* $(,)?)) => {{
        let (f, name) = $self.api.$field;
        // SAFETY: every caller passes valid out-pointers, handles this driver gave out, and
        // buffers whose lengths it checked.
        $self.check(name, unsafe { f($($arg),*) })
    }};
}

impl Gpu for Driver {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn target(&self) -> Result<Target, GpuError> {
        self.target.clone().map_err(GpuError::Unavailable)
    }

    fn compute_units(&self) -> Option<u32> {
        self.compute_units
    }

    fn alloc(&self, bytes: usize) -> Result<RawBuffer, GpuError> {
        let mut ptr = 0u64;
        // At least one byte, so every buffer has its own address.
        call!(self.malloc(&mut ptr, bytes.max(1)))?;
        Ok(RawBuffer { ptr, bytes })
    }

    fn free(&self, buf: RawBuffer) -> Result<(), GpuError> {
        call!(self.free(buf.ptr))
    }

    fn upload(&self, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError> {
        fits(src.len(), dst.bytes)?;
        call!(self.memcpy_htod(dst.ptr, src.as_ptr().cast(), src.len()))
    }

    fn download(&self, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError> {
        fits(dst.len(), src.bytes)?;
        call!(self.memcpy_dtoh(dst.as_mut_ptr().cast(), src.ptr, dst.len()))
    }

    unsafe fn upload_async(&self, stream: StreamHandle, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError> {
        fits(src.len(), dst.bytes)?;
        call!(self.memcpy_htod_async(dst.ptr, src.as_ptr().cast(), src.len(), stream.0))
    }

    unsafe fn download_async(&self, stream: StreamHandle, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError> {
        fits(dst.len(), src.bytes)?;
        call!(self.memcpy_dtoh_async(dst.as_mut_ptr().cast(), src.ptr, dst.len(), stream.0))
    }

    fn fill(&self, dst: &RawBuffer, byte: u8) -> Result<(), GpuError> {
        call!(self.memset_d8(dst.ptr, byte, dst.bytes))
    }

    fn copy_within_device(
        &self,
        stream: StreamHandle,
        dst: (&RawBuffer, usize),
        src: (&RawBuffer, usize),
        bytes: usize,
    ) -> Result<(), GpuError> {
        fits_copy(dst, src, bytes)?;
        call!(self.memcpy_dtod_async(dst.0.ptr + dst.1 as u64, src.0.ptr + src.1 as u64, bytes, stream.0))
    }

    fn memory(&self) -> Result<(u64, u64), GpuError> {
        let (mut free, mut total) = (0usize, 0usize);
        call!(self.mem_get_info(&mut free, &mut total))?;
        Ok((free as u64, total as u64))
    }

    fn load_module(&self, code: &[u8]) -> Result<ModuleHandle, GpuError> {
        let mut module = 0;
        // The runtime copies the code object before returning.
        call!(self.module_load_data(&mut module, code.as_ptr().cast()))?;
        Ok(ModuleHandle(module))
    }

    fn function(&self, module: ModuleHandle, symbol: &str) -> Result<FunctionHandle, GpuError> {
        let name = CString::new(symbol).map_err(|_| GpuError::MissingKernel(symbol.to_string()))?;
        let mut function = 0;
        call!(self.module_get_function(&mut function, module.0, name.as_ptr()))
            .map_err(|_| GpuError::MissingKernel(symbol.to_string()))?;
        Ok(FunctionHandle(function))
    }

    fn allow_dynamic_shared(&self, function: FunctionHandle, bytes: u32) -> Result<(), GpuError> {
        let Some(cuda) = &self.cuda else { return Ok(()) };
        let bytes = c_int::try_from(bytes)
            .map_err(|_| GpuError::Unavailable(format!("{bytes} bytes of shared memory is too many")))?;
        // SAFETY: a function handle this driver gave out, and an attribute that takes an int.
        let status = unsafe { (cuda.func_set_attribute)(function.0, ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes) };
        self.check("cuFuncSetAttribute", status)
    }

    fn tensor_map(&self, map: &TensorMapSpec) -> Result<TensorMap, GpuError> {
        let Some(cuda) = &self.cuda else { return Ok(TensorMap::ZERO) };
        let encode = cuda.tensor_map_encode_tiled.ok_or_else(|| {
            GpuError::Unavailable("the CUDA driver has no cuTensorMapEncodeTiled (CUDA 12 or newer needed)".into())
        })?;
        const HALF: u64 = 2;
        let dims = [map.cols, map.rows];
        let row_stride = [map.cols * HALF];
        let boxes = [map.box_cols, map.box_rows];
        let element_strides = [1u32, 1];
        // The box's rows land in the swizzle of their width (catalog::TensorMapOf): 32, 64 or
        // 128 bytes are CU_TENSOR_MAP_SWIZZLE_32B, _64B, _128B.
        let swizzle = match u64::from(map.box_cols) * HALF {
            32 => 1,
            64 => 2,
            128 => 3,
            bytes => return Err(GpuError::Unavailable(format!("a tensor map box row of {bytes} bytes"))),
        };
        /// The driver writes maps only to 64-byte aligned memory.
        #[repr(C, align(64))]
        struct Aligned(TensorMap);
        let mut out = Aligned(TensorMap::ZERO);
        // SAFETY: cuTensorMapEncodeTiled's declaration; it only writes `out` (128 bytes, 64-byte
        // aligned) and reads the arrays, each of rank (2) entries, the strides rank - 1. The
        // address is not touched.
        let status = unsafe {
            encode(
                &mut out.0,
                TENSOR_MAP_FLOAT16,
                2,
                map.address as *mut c_void,
                dims.as_ptr(),
                row_stride.as_ptr(),
                boxes.as_ptr(),
                element_strides.as_ptr(),
                0,
                swizzle,
                TENSOR_MAP_L2_PROMOTION_128B,
                0,
            )
        };
        self.check("cuTensorMapEncodeTiled", status)?;
        Ok(out.0)
    }

    fn enqueue(
        &self,
        stream: StreamHandle,
        function: FunctionHandle,
        grid: [u32; 3],
        block: u32,
        shared_bytes: u32,
        kernargs: &[u8],
    ) -> Result<(), GpuError> {
        let mut args = kernargs.to_vec();
        let mut size = args.len();
        let end = match self.runtime {
            Runtime::Cuda => std::ptr::null_mut(),
            Runtime::Hip => std::ptr::without_provenance_mut(3),
        };
        let mut extra = [
            LAUNCH_PARAM_BUFFER_POINTER,
            args.as_mut_ptr().cast(),
            LAUNCH_PARAM_BUFFER_SIZE,
            (&mut size as *mut usize).cast(),
            end,
        ];
        // The runtime copies the packed arguments before returning; their layout was checked
        // against the code object when the bundle loaded.
        if let Some(launch_ex) = self.launch_ex {
            let mut attr =
                LaunchAttribute { id: ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, _pad: [0; 4], value: [0; 64] };
            attr.value[..4].copy_from_slice(&1i32.to_ne_bytes());
            let config = LaunchConfig {
                grid,
                block: [block, 1, 1],
                shared_bytes,
                stream: stream.0,
                attrs: &mut attr,
                n_attrs: 1,
            };
            // SAFETY: as for cuLaunchKernel below; `config` and `attr` outlive the call.
            let status = unsafe { launch_ex(&config, function.0, std::ptr::null_mut(), extra.as_mut_ptr()) };
            return self.check("cuLaunchKernelEx", status);
        }
        let [gx, gy, gz] = grid;
        call!(self.launch_kernel(
            function.0,
            gx,
            gy,
            gz,
            block,
            1,
            1,
            shared_bytes,
            stream.0,
            std::ptr::null_mut(),
            extra.as_mut_ptr()
        ))
    }

    fn synchronize(&self, stream: StreamHandle) -> Result<(), GpuError> {
        call!(self.stream_synchronize(stream.0))
    }

    fn create_stream(&self) -> Result<StreamHandle, GpuError> {
        let mut s = 0;
        // Flags 0: a blocking stream, ordered with the default stream.
        call!(self.stream_create(&mut s, 0))?;
        Ok(StreamHandle(s))
    }

    fn destroy_stream(&self, stream: StreamHandle) -> Result<(), GpuError> {
        call!(self.stream_destroy(stream.0))
    }

    fn create_event(&self) -> Result<EventHandle, GpuError> {
        let mut e = 0;
        // Default flags: timing enabled.
        call!(self.event_create(&mut e, 0))?;
        Ok(EventHandle(e))
    }

    fn record(&self, event: EventHandle, stream: StreamHandle) -> Result<(), GpuError> {
        call!(self.event_record(event.0, stream.0))
    }

    fn elapsed_ms(&self, start: EventHandle, end: EventHandle) -> Result<f32, GpuError> {
        let mut ms = 0.0;
        call!(self.event_synchronize(end.0))?;
        call!(self.event_elapsed_time(&mut ms, start.0, end.0))?;
        Ok(ms)
    }

    fn destroy_event(&self, event: EventHandle) -> Result<(), GpuError> {
        call!(self.event_destroy(event.0))
    }

    fn begin_capture(&self, stream: StreamHandle) -> Result<(), GpuError> {
        call!(self.stream_begin_capture(stream.0, STREAM_CAPTURE_MODE_RELAXED))
    }

    fn end_capture(&self, stream: StreamHandle) -> Result<GraphHandle, GpuError> {
        let (mut graph, mut exec) = (0, 0);
        call!(self.stream_end_capture(stream.0, &mut graph))?;
        let instantiated = call!(self.graph_instantiate(&mut exec, graph, 0));
        // Only the executable graph is kept.
        let _ = call!(self.graph_destroy(graph));
        instantiated.map(|()| GraphHandle(exec))
    }

    fn launch_graph(&self, graph: GraphHandle, stream: StreamHandle) -> Result<(), GpuError> {
        call!(self.graph_launch(graph.0, stream.0))
    }

    fn destroy_graph(&self, graph: GraphHandle) -> Result<(), GpuError> {
        call!(self.graph_exec_destroy(graph.0))
    }
}

/// Both ranges of a copy of `bytes` between two buffers, each given with a byte offset, lie
/// within their buffers.
pub(crate) fn fits_copy(dst: (&RawBuffer, usize), src: (&RawBuffer, usize), bytes: usize) -> Result<(), GpuError> {
    fits(dst.1.saturating_add(bytes), dst.0.bytes)?;
    fits(src.1.saturating_add(bytes), src.0.bytes)
}

pub(crate) fn fits(bytes: usize, capacity: usize) -> Result<(), GpuError> {
    if bytes > capacity {
        return Err(GpuError::Size { bytes, capacity });
    }
    Ok(())
}

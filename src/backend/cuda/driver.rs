use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

use libloading::Library;
use rocmforge_codegen::Target;

use crate::backend::gpu::{
    dl, EventHandle, FunctionHandle, Gpu, GpuError, GraphHandle, ModuleHandle, RawBuffer, StreamHandle,
};

type CuResult = c_int;
type CuDevice = c_int;
type CuContext = *mut c_void;
type CuModule = *mut c_void;
type CuFunction = *mut c_void;

const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: c_int = 75;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: c_int = 76;
// `extra` markers of cuLaunchKernel: the arguments come as one packed buffer.
const CU_LAUNCH_PARAM_END: *mut c_void = std::ptr::null_mut();
const CU_LAUNCH_PARAM_BUFFER_POINTER: *mut c_void = std::ptr::without_provenance_mut(1);
const CU_LAUNCH_PARAM_BUFFER_SIZE: *mut c_void = std::ptr::without_provenance_mut(2);
/// Other threads' CUDA calls are not restricted while a stream records a graph.
const CU_STREAM_CAPTURE_MODE_RELAXED: c_int = 2;

/// The driver entry points we use, resolved once.
struct Api {
    init: unsafe extern "C" fn(c_uint) -> CuResult,
    device_get_count: unsafe extern "C" fn(*mut c_int) -> CuResult,
    device_get: unsafe extern "C" fn(*mut CuDevice, c_int) -> CuResult,
    device_get_name: unsafe extern "C" fn(*mut c_char, c_int, CuDevice) -> CuResult,
    device_get_attribute: unsafe extern "C" fn(*mut c_int, c_int, CuDevice) -> CuResult,
    primary_ctx_retain: unsafe extern "C" fn(*mut CuContext, CuDevice) -> CuResult,
    ctx_set_current: unsafe extern "C" fn(CuContext) -> CuResult,
    module_load_data: unsafe extern "C" fn(*mut CuModule, *const c_void) -> CuResult,
    module_get_function: unsafe extern "C" fn(*mut CuFunction, CuModule, *const c_char) -> CuResult,
    mem_alloc: unsafe extern "C" fn(*mut u64, usize) -> CuResult,
    mem_free: unsafe extern "C" fn(u64) -> CuResult,
    memcpy_htod: unsafe extern "C" fn(u64, *const c_void, usize) -> CuResult,
    memcpy_dtoh: unsafe extern "C" fn(*mut c_void, u64, usize) -> CuResult,
    memset_d8: unsafe extern "C" fn(u64, u8, usize) -> CuResult,
    #[allow(clippy::type_complexity)]
    launch_kernel: unsafe extern "C" fn(
        CuFunction,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        *mut c_void,
        *mut *mut c_void,
        *mut *mut c_void,
    ) -> CuResult,
    get_error_name: unsafe extern "C" fn(CuResult, *mut *const c_char) -> CuResult,
    memcpy_htod_async: unsafe extern "C" fn(u64, *const c_void, usize, u64) -> CuResult,
    memcpy_dtoh_async: unsafe extern "C" fn(*mut c_void, u64, usize, u64) -> CuResult,
    stream_create: unsafe extern "C" fn(*mut u64, c_uint) -> CuResult,
    stream_destroy: unsafe extern "C" fn(u64) -> CuResult,
    stream_synchronize: unsafe extern "C" fn(u64) -> CuResult,
    event_create: unsafe extern "C" fn(*mut u64, c_uint) -> CuResult,
    event_record: unsafe extern "C" fn(u64, u64) -> CuResult,
    event_synchronize: unsafe extern "C" fn(u64) -> CuResult,
    event_elapsed_time: unsafe extern "C" fn(*mut f32, u64, u64) -> CuResult,
    event_destroy: unsafe extern "C" fn(u64) -> CuResult,
    stream_begin_capture: unsafe extern "C" fn(u64, c_int) -> CuResult,
    stream_end_capture: unsafe extern "C" fn(u64, *mut u64) -> CuResult,
    graph_instantiate: unsafe extern "C" fn(*mut u64, u64, u64) -> CuResult,
    graph_launch: unsafe extern "C" fn(u64, u64) -> CuResult,
    graph_destroy: unsafe extern "C" fn(u64) -> CuResult,
    graph_exec_destroy: unsafe extern "C" fn(u64) -> CuResult,
}

/// The first CUDA device, with its primary context current on the creating thread.
pub struct Cuda {
    api: Api,
    device: CuDevice,
    // Keeps the function pointers in `api` valid.
    _lib: Library,
}

macro_rules! sym {
    ($lib:expr, $name:literal) => {
        // SAFETY: the field's type is the CUDA driver API's declaration of this symbol.
        unsafe { dl::entry(&$lib, $name) }?
    };
}

impl Cuda {
    /// Loads the driver and opens device 0, or says why not.
    pub fn open() -> Result<Cuda, GpuError> {
        let lib = dl::open_first("CUDA driver", &["libcuda.so.1", "libcuda.so"])?;
        let api = Api {
            init: sym!(lib, "cuInit"),
            device_get_count: sym!(lib, "cuDeviceGetCount"),
            device_get: sym!(lib, "cuDeviceGet"),
            device_get_name: sym!(lib, "cuDeviceGetName"),
            device_get_attribute: sym!(lib, "cuDeviceGetAttribute"),
            primary_ctx_retain: sym!(lib, "cuDevicePrimaryCtxRetain"),
            ctx_set_current: sym!(lib, "cuCtxSetCurrent"),
            module_load_data: sym!(lib, "cuModuleLoadData"),
            module_get_function: sym!(lib, "cuModuleGetFunction"),
            mem_alloc: sym!(lib, "cuMemAlloc_v2"),
            mem_free: sym!(lib, "cuMemFree_v2"),
            memcpy_htod: sym!(lib, "cuMemcpyHtoD_v2"),
            memcpy_dtoh: sym!(lib, "cuMemcpyDtoH_v2"),
            memset_d8: sym!(lib, "cuMemsetD8_v2"),
            launch_kernel: sym!(lib, "cuLaunchKernel"),
            get_error_name: sym!(lib, "cuGetErrorName"),
            memcpy_htod_async: sym!(lib, "cuMemcpyHtoDAsync_v2"),
            memcpy_dtoh_async: sym!(lib, "cuMemcpyDtoHAsync_v2"),
            stream_create: sym!(lib, "cuStreamCreate"),
            stream_destroy: sym!(lib, "cuStreamDestroy_v2"),
            stream_synchronize: sym!(lib, "cuStreamSynchronize"),
            event_create: sym!(lib, "cuEventCreate"),
            event_record: sym!(lib, "cuEventRecord"),
            event_synchronize: sym!(lib, "cuEventSynchronize"),
            event_elapsed_time: sym!(lib, "cuEventElapsedTime"),
            event_destroy: sym!(lib, "cuEventDestroy_v2"),
            stream_begin_capture: sym!(lib, "cuStreamBeginCapture_v2"),
            stream_end_capture: sym!(lib, "cuStreamEndCapture"),
            graph_instantiate: sym!(lib, "cuGraphInstantiateWithFlags"),
            graph_launch: sym!(lib, "cuGraphLaunch"),
            graph_destroy: sym!(lib, "cuGraphDestroy"),
            graph_exec_destroy: sym!(lib, "cuGraphExecDestroy"),
        };
        let mut cuda = Cuda { api, device: 0, _lib: lib };
        // SAFETY (all driver calls below): out-pointers are valid locals; handles come from the driver.
        cuda.check("cuInit", unsafe { (cuda.api.init)(0) })?;
        let mut count = 0;
        cuda.check("cuDeviceGetCount", unsafe { (cuda.api.device_get_count)(&mut count) })?;
        if count == 0 {
            return Err(GpuError::Unavailable("the CUDA driver sees no device".into()));
        }
        let mut device = 0;
        cuda.check("cuDeviceGet", unsafe { (cuda.api.device_get)(&mut device, 0) })?;
        cuda.device = device;
        let mut ctx = std::ptr::null_mut();
        cuda.check("cuDevicePrimaryCtxRetain", unsafe { (cuda.api.primary_ctx_retain)(&mut ctx, device) })?;
        cuda.check("cuCtxSetCurrent", unsafe { (cuda.api.ctx_set_current)(ctx) })?;
        Ok(cuda)
    }

    fn check(&self, call: &'static str, code: CuResult) -> Result<(), GpuError> {
        if code == 0 {
            return Ok(());
        }
        let mut name: *const c_char = std::ptr::null();
        // SAFETY: cuGetErrorName writes a pointer to a static string or leaves it null.
        let named = unsafe { (self.api.get_error_name)(code, &mut name) } == 0 && !name.is_null();
        let code = if named {
            // SAFETY: the driver returned a NUL-terminated static string.
            format!("{} ({code})", unsafe { CStr::from_ptr(name) }.to_string_lossy())
        } else {
            format!("error {code}")
        };
        Err(GpuError::Driver { call, code })
    }

    fn attribute(&self, attr: c_int) -> Result<i32, GpuError> {
        let mut v = 0;
        // SAFETY: valid out-pointer and device.
        self.check("cuDeviceGetAttribute", unsafe { (self.api.device_get_attribute)(&mut v, attr, self.device) })?;
        Ok(v)
    }

    fn compute_capability(&self) -> Result<(i32, i32), GpuError> {
        Ok((
            self.attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            self.attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        ))
    }
}

impl Gpu for Cuda {
    fn describe(&self) -> String {
        let mut buf = [0 as c_char; 256];
        // SAFETY: the buffer's length is passed; the driver NUL-terminates.
        let name = if unsafe { (self.api.device_get_name)(buf.as_mut_ptr(), buf.len() as c_int, self.device) } == 0 {
            // SAFETY: NUL-terminated by the driver.
            unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
        } else {
            "unknown CUDA device".into()
        };
        match self.compute_capability() {
            Ok((major, minor)) => format!("{name} (sm_{major}{minor})"),
            Err(_) => name,
        }
    }

    fn target(&self) -> Result<Target, GpuError> {
        let (major, minor) = self.compute_capability()?;
        format!("sm_{major}{minor}").parse().map_err(|_| {
            GpuError::Unavailable(format!("no kernels for sm_{major}{minor}: ROCmForge builds sm_90 bundles"))
        })
    }

    fn alloc(&self, bytes: usize) -> Result<RawBuffer, GpuError> {
        let mut ptr = 0u64;
        // SAFETY: valid out-pointer; at least one byte so every buffer has a distinct address.
        self.check("cuMemAlloc", unsafe { (self.api.mem_alloc)(&mut ptr, bytes.max(1)) })?;
        Ok(RawBuffer { ptr, bytes })
    }

    fn free(&self, buf: RawBuffer) -> Result<(), GpuError> {
        // SAFETY: the pointer came from cuMemAlloc and is freed once (the buffer is consumed).
        self.check("cuMemFree", unsafe { (self.api.mem_free)(buf.ptr) })
    }

    fn upload(&self, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError> {
        if src.len() > dst.bytes {
            return Err(GpuError::Size { bytes: src.len(), capacity: dst.bytes });
        }
        // SAFETY: the source slice is valid for its length, which fits the allocation.
        self.check("cuMemcpyHtoD", unsafe { (self.api.memcpy_htod)(dst.ptr, src.as_ptr().cast(), src.len()) })
    }

    fn download(&self, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError> {
        if dst.len() > src.bytes {
            return Err(GpuError::Size { bytes: dst.len(), capacity: src.bytes });
        }
        // SAFETY: the destination slice is valid for its length, which fits the allocation.
        self.check("cuMemcpyDtoH", unsafe { (self.api.memcpy_dtoh)(dst.as_mut_ptr().cast(), src.ptr, dst.len()) })
    }

    unsafe fn upload_async(&self, stream: StreamHandle, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError> {
        if src.len() > dst.bytes {
            return Err(GpuError::Size { bytes: src.len(), capacity: dst.bytes });
        }
        // SAFETY: the caller keeps `src` alive until the stream is synchronized; it fits `dst`.
        self.check("cuMemcpyHtoDAsync", unsafe {
            (self.api.memcpy_htod_async)(dst.ptr, src.as_ptr().cast(), src.len(), stream.0)
        })
    }

    unsafe fn download_async(&self, stream: StreamHandle, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError> {
        if dst.len() > src.bytes {
            return Err(GpuError::Size { bytes: dst.len(), capacity: src.bytes });
        }
        // SAFETY: the caller keeps `dst` alive and untouched until the stream is synchronized.
        self.check("cuMemcpyDtoHAsync", unsafe {
            (self.api.memcpy_dtoh_async)(dst.as_mut_ptr().cast(), src.ptr, dst.len(), stream.0)
        })
    }

    fn fill(&self, dst: &RawBuffer, byte: u8) -> Result<(), GpuError> {
        // SAFETY: the range is the allocation itself.
        self.check("cuMemsetD8", unsafe { (self.api.memset_d8)(dst.ptr, byte, dst.bytes) })
    }

    fn load_module(&self, code: &[u8]) -> Result<ModuleHandle, GpuError> {
        let mut module = std::ptr::null_mut();
        // SAFETY: the image is a complete cubin that outlives the call (the driver copies it).
        self.check("cuModuleLoadData", unsafe { (self.api.module_load_data)(&mut module, code.as_ptr().cast()) })?;
        Ok(ModuleHandle(module as u64))
    }

    fn function(&self, module: ModuleHandle, symbol: &str) -> Result<FunctionHandle, GpuError> {
        let name = CString::new(symbol).map_err(|_| GpuError::MissingKernel(symbol.to_string()))?;
        let mut function = std::ptr::null_mut();
        // SAFETY: the module handle came from cuModuleLoadData; the name is NUL-terminated.
        if unsafe { (self.api.module_get_function)(&mut function, module.0 as CuModule, name.as_ptr()) } != 0 {
            return Err(GpuError::MissingKernel(symbol.to_string()));
        }
        Ok(FunctionHandle(function as u64))
    }

    fn enqueue(
        &self,
        stream: StreamHandle,
        function: FunctionHandle,
        grid: [u32; 3],
        block: u32,
        kernargs: &[u8],
    ) -> Result<(), GpuError> {
        let mut args = kernargs.to_vec();
        let mut size = args.len();
        let mut extra = [
            CU_LAUNCH_PARAM_BUFFER_POINTER,
            args.as_mut_ptr().cast(),
            CU_LAUNCH_PARAM_BUFFER_SIZE,
            (&mut size as *mut usize).cast(),
            CU_LAUNCH_PARAM_END,
        ];
        // SAFETY: `extra` points at the packed arguments and their size, which the driver copies
        // before cuLaunchKernel returns; their layout was checked against the code object at load.
        let launched = unsafe {
            (self.api.launch_kernel)(
                function.0 as CuFunction,
                grid[0],
                grid[1],
                grid[2],
                block,
                1,
                1,
                0,
                stream.0 as *mut c_void,
                std::ptr::null_mut(),
                extra.as_mut_ptr(),
            )
        };
        self.check("cuLaunchKernel", launched)
    }

    fn synchronize(&self, stream: StreamHandle) -> Result<(), GpuError> {
        // SAFETY: a stream this device created, or the default stream (0).
        self.check("cuStreamSynchronize", unsafe { (self.api.stream_synchronize)(stream.0) })
    }

    fn create_stream(&self) -> Result<StreamHandle, GpuError> {
        let mut s = 0;
        // SAFETY: valid out-pointer; flags 0: a blocking stream, ordered with the default stream.
        self.check("cuStreamCreate", unsafe { (self.api.stream_create)(&mut s, 0) })?;
        Ok(StreamHandle(s))
    }

    fn destroy_stream(&self, stream: StreamHandle) -> Result<(), GpuError> {
        // SAFETY: a stream this device created.
        self.check("cuStreamDestroy", unsafe { (self.api.stream_destroy)(stream.0) })
    }

    fn create_event(&self) -> Result<EventHandle, GpuError> {
        let mut e = 0;
        // SAFETY: valid out-pointer; default flags (timing enabled).
        self.check("cuEventCreate", unsafe { (self.api.event_create)(&mut e, 0) })?;
        Ok(EventHandle(e))
    }

    fn record(&self, event: EventHandle, stream: StreamHandle) -> Result<(), GpuError> {
        // SAFETY: handles this device created.
        self.check("cuEventRecord", unsafe { (self.api.event_record)(event.0, stream.0) })
    }

    fn elapsed_ms(&self, start: EventHandle, end: EventHandle) -> Result<f32, GpuError> {
        let mut ms = 0.0;
        // SAFETY: recorded events of this device; valid out-pointer.
        self.check("cuEventSynchronize", unsafe { (self.api.event_synchronize)(end.0) })?;
        // SAFETY: as above.
        self.check("cuEventElapsedTime", unsafe { (self.api.event_elapsed_time)(&mut ms, start.0, end.0) })?;
        Ok(ms)
    }

    fn destroy_event(&self, event: EventHandle) -> Result<(), GpuError> {
        // SAFETY: an event this device created.
        self.check("cuEventDestroy", unsafe { (self.api.event_destroy)(event.0) })
    }

    fn begin_capture(&self, stream: StreamHandle) -> Result<(), GpuError> {
        // SAFETY: a stream this device created (the default stream cannot be captured).
        self.check("cuStreamBeginCapture", unsafe {
            (self.api.stream_begin_capture)(stream.0, CU_STREAM_CAPTURE_MODE_RELAXED)
        })
    }

    fn end_capture(&self, stream: StreamHandle) -> Result<GraphHandle, GpuError> {
        let (mut graph, mut exec) = (0, 0);
        // SAFETY: the stream is capturing; out-pointers are valid.
        self.check("cuStreamEndCapture", unsafe { (self.api.stream_end_capture)(stream.0, &mut graph) })?;
        // SAFETY: `graph` came from the capture; only the executable graph is kept.
        let instantiated =
            self.check("cuGraphInstantiate", unsafe { (self.api.graph_instantiate)(&mut exec, graph, 0) });
        // SAFETY: as above; the executable graph does not need it.
        let _ = unsafe { (self.api.graph_destroy)(graph) };
        instantiated.map(|()| GraphHandle(exec))
    }

    fn launch_graph(&self, graph: GraphHandle, stream: StreamHandle) -> Result<(), GpuError> {
        // SAFETY: an instantiated graph and a stream of this device.
        self.check("cuGraphLaunch", unsafe { (self.api.graph_launch)(graph.0, stream.0) })
    }

    fn destroy_graph(&self, graph: GraphHandle) -> Result<(), GpuError> {
        // SAFETY: an instantiated graph of this device.
        self.check("cuGraphExecDestroy", unsafe { (self.api.graph_exec_destroy)(graph.0) })
    }
}

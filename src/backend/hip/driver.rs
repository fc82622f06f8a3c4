use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

use libloading::Library;
use rocmforge_codegen::Target;

use crate::backend::gpu::{
    dl, EventHandle, FunctionHandle, Gpu, GpuError, GraphHandle, ModuleHandle, RawBuffer, StreamHandle,
};

type HipError = c_int;
type HipModule = *mut c_void;
type HipFunction = *mut c_void;

// `extra` markers of hipModuleLaunchKernel (hip_runtime_api.h): one packed argument buffer.
const HIP_LAUNCH_PARAM_BUFFER_POINTER: *mut c_void = std::ptr::without_provenance_mut(1);
const HIP_LAUNCH_PARAM_BUFFER_SIZE: *mut c_void = std::ptr::without_provenance_mut(2);
const HIP_LAUNCH_PARAM_END: *mut c_void = std::ptr::without_provenance_mut(3);
/// Other threads' HIP calls are not restricted while a stream records a graph.
const HIP_STREAM_CAPTURE_MODE_RELAXED: c_int = 2;
/// Bytes reserved for `hipDeviceProp_t` (about 1.5 KB in ROCm 6; its layout changes between
/// releases, so only the `gcnArchName` string is read out of it, by content).
const DEVICE_PROP_BYTES: usize = 8192;

struct Api {
    init: unsafe extern "C" fn(c_uint) -> HipError,
    get_device_count: unsafe extern "C" fn(*mut c_int) -> HipError,
    set_device: unsafe extern "C" fn(c_int) -> HipError,
    get_device_properties: unsafe extern "C" fn(*mut c_void, c_int) -> HipError,
    module_load_data: unsafe extern "C" fn(*mut HipModule, *const c_void) -> HipError,
    module_get_function: unsafe extern "C" fn(*mut HipFunction, HipModule, *const c_char) -> HipError,
    malloc: unsafe extern "C" fn(*mut u64, usize) -> HipError,
    free: unsafe extern "C" fn(u64) -> HipError,
    memcpy_htod: unsafe extern "C" fn(u64, *const c_void, usize) -> HipError,
    memcpy_dtoh: unsafe extern "C" fn(*mut c_void, u64, usize) -> HipError,
    memset: unsafe extern "C" fn(u64, c_int, usize) -> HipError,
    #[allow(clippy::type_complexity)]
    module_launch_kernel: unsafe extern "C" fn(
        HipFunction,
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
    ) -> HipError,
    get_error_name: unsafe extern "C" fn(HipError) -> *const c_char,
    memcpy_htod_async: unsafe extern "C" fn(u64, *const c_void, usize, u64) -> HipError,
    memcpy_dtoh_async: unsafe extern "C" fn(*mut c_void, u64, usize, u64) -> HipError,
    stream_create: unsafe extern "C" fn(*mut u64, c_uint) -> HipError,
    stream_destroy: unsafe extern "C" fn(u64) -> HipError,
    stream_synchronize: unsafe extern "C" fn(u64) -> HipError,
    event_create: unsafe extern "C" fn(*mut u64, c_uint) -> HipError,
    event_record: unsafe extern "C" fn(u64, u64) -> HipError,
    event_synchronize: unsafe extern "C" fn(u64) -> HipError,
    event_elapsed_time: unsafe extern "C" fn(*mut f32, u64, u64) -> HipError,
    event_destroy: unsafe extern "C" fn(u64) -> HipError,
    stream_begin_capture: unsafe extern "C" fn(u64, c_int) -> HipError,
    stream_end_capture: unsafe extern "C" fn(u64, *mut u64) -> HipError,
    graph_instantiate: unsafe extern "C" fn(*mut u64, u64, u64) -> HipError,
    graph_launch: unsafe extern "C" fn(u64, u64) -> HipError,
    graph_destroy: unsafe extern "C" fn(u64) -> HipError,
    graph_exec_destroy: unsafe extern "C" fn(u64) -> HipError,
}

/// The first HIP device.
pub struct Hip {
    api: Api,
    name: String,
    arch: String,
    _lib: Library,
}

macro_rules! sym {
    ($lib:expr, $name:literal) => {
        // SAFETY: the field's type is the HIP runtime API's declaration of this symbol.
        unsafe { dl::entry(&$lib, $name) }?
    };
}

/// The AMD target id inside the device properties (`gfx942:sramecc+:xnack-`), found by content.
fn arch_in(props: &[u8]) -> Option<String> {
    let at = props.windows(4).position(|w| w.starts_with(b"gfx") && w[3].is_ascii_alphanumeric())?;
    let end = props[at..].iter().position(|&b| b == 0).map_or(props.len(), |n| at + n);
    String::from_utf8(props[at..end].to_vec()).ok()
}

impl Hip {
    /// Loads the HIP runtime and opens device 0, or says why not.
    pub fn open() -> Result<Hip, GpuError> {
        let lib = dl::open_first(
            "HIP runtime",
            &[
                "libamdhip64.so",
                "libamdhip64.so.7",
                "libamdhip64.so.6",
                "libamdhip64.so.5",
                "/opt/rocm/lib/libamdhip64.so",
            ],
        )?;
        // ROCm 6 renamed the properties call (the struct changed); ROCm 5 has only the old name.
        // SAFETY: both names have the signature (hipDeviceProp_t*, int) -> hipError_t.
        let get_device_properties = unsafe { dl::entry(&lib, "hipGetDevicePropertiesR0600") }
            .or_else(|_| unsafe { dl::entry(&lib, "hipGetDeviceProperties") })?;
        let api = Api {
            init: sym!(lib, "hipInit"),
            get_device_count: sym!(lib, "hipGetDeviceCount"),
            set_device: sym!(lib, "hipSetDevice"),
            get_device_properties,
            module_load_data: sym!(lib, "hipModuleLoadData"),
            module_get_function: sym!(lib, "hipModuleGetFunction"),
            malloc: sym!(lib, "hipMalloc"),
            free: sym!(lib, "hipFree"),
            memcpy_htod: sym!(lib, "hipMemcpyHtoD"),
            memcpy_dtoh: sym!(lib, "hipMemcpyDtoH"),
            memset: sym!(lib, "hipMemset"),
            module_launch_kernel: sym!(lib, "hipModuleLaunchKernel"),
            get_error_name: sym!(lib, "hipGetErrorName"),
            memcpy_htod_async: sym!(lib, "hipMemcpyHtoDAsync"),
            memcpy_dtoh_async: sym!(lib, "hipMemcpyDtoHAsync"),
            stream_create: sym!(lib, "hipStreamCreateWithFlags"),
            stream_destroy: sym!(lib, "hipStreamDestroy"),
            stream_synchronize: sym!(lib, "hipStreamSynchronize"),
            event_create: sym!(lib, "hipEventCreateWithFlags"),
            event_record: sym!(lib, "hipEventRecord"),
            event_synchronize: sym!(lib, "hipEventSynchronize"),
            event_elapsed_time: sym!(lib, "hipEventElapsedTime"),
            event_destroy: sym!(lib, "hipEventDestroy"),
            stream_begin_capture: sym!(lib, "hipStreamBeginCapture"),
            stream_end_capture: sym!(lib, "hipStreamEndCapture"),
            graph_instantiate: sym!(lib, "hipGraphInstantiateWithFlags"),
            graph_launch: sym!(lib, "hipGraphLaunch"),
            graph_destroy: sym!(lib, "hipGraphDestroy"),
            graph_exec_destroy: sym!(lib, "hipGraphExecDestroy"),
        };
        let mut hip = Hip { api, name: String::new(), arch: String::new(), _lib: lib };
        // SAFETY (driver calls below): out-pointers are valid locals or buffers of the stated size.
        hip.check("hipInit", unsafe { (hip.api.init)(0) })?;
        let mut count = 0;
        hip.check("hipGetDeviceCount", unsafe { (hip.api.get_device_count)(&mut count) })?;
        if count == 0 {
            return Err(GpuError::Unavailable("the HIP runtime sees no device".into()));
        }
        hip.check("hipSetDevice", unsafe { (hip.api.set_device)(0) })?;
        let mut props = vec![0u8; DEVICE_PROP_BYTES];
        hip.check("hipGetDeviceProperties", unsafe { (hip.api.get_device_properties)(props.as_mut_ptr().cast(), 0) })?;
        // `name` is the struct's first field.
        hip.name = CStr::from_bytes_until_nul(&props).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        hip.arch = arch_in(&props)
            .ok_or_else(|| GpuError::Unavailable("the HIP device reports no gfx architecture".into()))?;
        Ok(hip)
    }

    fn check(&self, call: &'static str, code: HipError) -> Result<(), GpuError> {
        if code == 0 {
            return Ok(());
        }
        // SAFETY: hipGetErrorName returns a static NUL-terminated string (or null).
        let name = unsafe { (self.api.get_error_name)(code) };
        let code = if name.is_null() {
            format!("error {code}")
        } else {
            // SAFETY: non-null, static, NUL-terminated.
            format!("{} ({code})", unsafe { CStr::from_ptr(name) }.to_string_lossy())
        };
        Err(GpuError::Driver { call, code })
    }
}

impl Gpu for Hip {
    fn describe(&self) -> String {
        format!("{} ({})", self.name, self.arch)
    }

    fn target(&self) -> Result<Target, GpuError> {
        self.arch.parse().map_err(|_| {
            GpuError::Unavailable(format!("no kernels for {}: ROCmForge builds gfx1100, gfx942 and gfx950", self.arch))
        })
    }

    fn alloc(&self, bytes: usize) -> Result<RawBuffer, GpuError> {
        let mut ptr = 0u64;
        // SAFETY: valid out-pointer; at least one byte so every buffer has a distinct address.
        self.check("hipMalloc", unsafe { (self.api.malloc)(&mut ptr, bytes.max(1)) })?;
        Ok(RawBuffer { ptr, bytes })
    }

    fn free(&self, buf: RawBuffer) -> Result<(), GpuError> {
        // SAFETY: the pointer came from hipMalloc and is freed once (the buffer is consumed).
        self.check("hipFree", unsafe { (self.api.free)(buf.ptr) })
    }

    fn upload(&self, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError> {
        if src.len() > dst.bytes {
            return Err(GpuError::Size { bytes: src.len(), capacity: dst.bytes });
        }
        // SAFETY: the source slice is valid for its length, which fits the allocation.
        self.check("hipMemcpyHtoD", unsafe { (self.api.memcpy_htod)(dst.ptr, src.as_ptr().cast(), src.len()) })
    }

    fn download(&self, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError> {
        if dst.len() > src.bytes {
            return Err(GpuError::Size { bytes: dst.len(), capacity: src.bytes });
        }
        // SAFETY: the destination slice is valid for its length, which fits the allocation.
        self.check("hipMemcpyDtoH", unsafe { (self.api.memcpy_dtoh)(dst.as_mut_ptr().cast(), src.ptr, dst.len()) })
    }

    unsafe fn upload_async(&self, stream: StreamHandle, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError> {
        if src.len() > dst.bytes {
            return Err(GpuError::Size { bytes: src.len(), capacity: dst.bytes });
        }
        // SAFETY: the caller keeps `src` alive until the stream is synchronized; it fits `dst`.
        self.check("hipMemcpyHtoDAsync", unsafe {
            (self.api.memcpy_htod_async)(dst.ptr, src.as_ptr().cast(), src.len(), stream.0)
        })
    }

    unsafe fn download_async(&self, stream: StreamHandle, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError> {
        if dst.len() > src.bytes {
            return Err(GpuError::Size { bytes: dst.len(), capacity: src.bytes });
        }
        // SAFETY: the caller keeps `dst` alive and untouched until the stream is synchronized.
        self.check("hipMemcpyDtoHAsync", unsafe {
            (self.api.memcpy_dtoh_async)(dst.as_mut_ptr().cast(), src.ptr, dst.len(), stream.0)
        })
    }

    fn fill(&self, dst: &RawBuffer, byte: u8) -> Result<(), GpuError> {
        // SAFETY: the range is the allocation itself.
        self.check("hipMemset", unsafe { (self.api.memset)(dst.ptr, c_int::from(byte), dst.bytes) })
    }

    fn load_module(&self, code: &[u8]) -> Result<ModuleHandle, GpuError> {
        let mut module = std::ptr::null_mut();
        // SAFETY: a complete code object that outlives the call (the runtime copies it).
        self.check("hipModuleLoadData", unsafe { (self.api.module_load_data)(&mut module, code.as_ptr().cast()) })?;
        Ok(ModuleHandle(module as u64))
    }

    fn function(&self, module: ModuleHandle, symbol: &str) -> Result<FunctionHandle, GpuError> {
        let name = CString::new(symbol).map_err(|_| GpuError::MissingKernel(symbol.to_string()))?;
        let mut function = std::ptr::null_mut();
        // SAFETY: the module handle came from hipModuleLoadData; the name is NUL-terminated.
        if unsafe { (self.api.module_get_function)(&mut function, module.0 as HipModule, name.as_ptr()) } != 0 {
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
            HIP_LAUNCH_PARAM_BUFFER_POINTER,
            args.as_mut_ptr().cast(),
            HIP_LAUNCH_PARAM_BUFFER_SIZE,
            (&mut size as *mut usize).cast(),
            HIP_LAUNCH_PARAM_END,
        ];
        // SAFETY: `extra` points at the packed arguments and their size, which the driver copies
        // before hipModuleLaunchKernel returns; their layout was checked against the code object at load.
        let launched = unsafe {
            (self.api.module_launch_kernel)(
                function.0 as HipFunction,
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
        self.check("hipModuleLaunchKernel", launched)
    }

    fn synchronize(&self, stream: StreamHandle) -> Result<(), GpuError> {
        // SAFETY: a stream this device created, or the default stream (0).
        self.check("hipStreamSynchronize", unsafe { (self.api.stream_synchronize)(stream.0) })
    }

    fn create_stream(&self) -> Result<StreamHandle, GpuError> {
        let mut s = 0;
        // SAFETY: valid out-pointer; flags 0: a blocking stream, ordered with the default stream.
        self.check("hipStreamCreate", unsafe { (self.api.stream_create)(&mut s, 0) })?;
        Ok(StreamHandle(s))
    }

    fn destroy_stream(&self, stream: StreamHandle) -> Result<(), GpuError> {
        // SAFETY: a stream this device created.
        self.check("hipStreamDestroy", unsafe { (self.api.stream_destroy)(stream.0) })
    }

    fn create_event(&self) -> Result<EventHandle, GpuError> {
        let mut e = 0;
        // SAFETY: valid out-pointer; default flags (timing enabled).
        self.check("hipEventCreate", unsafe { (self.api.event_create)(&mut e, 0) })?;
        Ok(EventHandle(e))
    }

    fn record(&self, event: EventHandle, stream: StreamHandle) -> Result<(), GpuError> {
        // SAFETY: handles this device created.
        self.check("hipEventRecord", unsafe { (self.api.event_record)(event.0, stream.0) })
    }

    fn elapsed_ms(&self, start: EventHandle, end: EventHandle) -> Result<f32, GpuError> {
        let mut ms = 0.0;
        // SAFETY: recorded events of this device; valid out-pointer.
        self.check("hipEventSynchronize", unsafe { (self.api.event_synchronize)(end.0) })?;
        // SAFETY: as above.
        self.check("hipEventElapsedTime", unsafe { (self.api.event_elapsed_time)(&mut ms, start.0, end.0) })?;
        Ok(ms)
    }

    fn destroy_event(&self, event: EventHandle) -> Result<(), GpuError> {
        // SAFETY: an event this device created.
        self.check("hipEventDestroy", unsafe { (self.api.event_destroy)(event.0) })
    }

    fn begin_capture(&self, stream: StreamHandle) -> Result<(), GpuError> {
        // SAFETY: a stream this device created (the default stream cannot be captured).
        self.check("hipStreamBeginCapture", unsafe {
            (self.api.stream_begin_capture)(stream.0, HIP_STREAM_CAPTURE_MODE_RELAXED)
        })
    }

    fn end_capture(&self, stream: StreamHandle) -> Result<GraphHandle, GpuError> {
        let (mut graph, mut exec) = (0, 0);
        // SAFETY: the stream is capturing; out-pointers are valid.
        self.check("hipStreamEndCapture", unsafe { (self.api.stream_end_capture)(stream.0, &mut graph) })?;
        // SAFETY: `graph` came from the capture; only the executable graph is kept.
        let instantiated =
            self.check("hipGraphInstantiate", unsafe { (self.api.graph_instantiate)(&mut exec, graph, 0) });
        // SAFETY: as above; the executable graph does not need it.
        let _ = unsafe { (self.api.graph_destroy)(graph) };
        instantiated.map(|()| GraphHandle(exec))
    }

    fn launch_graph(&self, graph: GraphHandle, stream: StreamHandle) -> Result<(), GpuError> {
        // SAFETY: an instantiated graph and a stream of this device.
        self.check("hipGraphLaunch", unsafe { (self.api.graph_launch)(graph.0, stream.0) })
    }

    fn destroy_graph(&self, graph: GraphHandle) -> Result<(), GpuError> {
        // SAFETY: an instantiated graph of this device.
        self.check("hipGraphExecDestroy", unsafe { (self.api.graph_exec_destroy)(graph.0) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_architecture_is_found_in_the_properties_by_content() {
        let mut props = vec![0u8; 512];
        props[..19].copy_from_slice(b"AMD Instinct MI300X");
        props[300..322].copy_from_slice(b"gfx942:sramecc+:xnack-");
        assert_eq!(arch_in(&props).as_deref(), Some("gfx942:sramecc+:xnack-"));
        assert_eq!(arch_in(&props).unwrap().parse::<Target>().unwrap(), Target::Gfx942);
        assert_eq!(arch_in(&[0u8; 64]), None);
    }
}

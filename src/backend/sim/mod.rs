//! The CPU's kernel simulator as a `Gpu` (`--device sim`): bundles compiled with
//! `rocmforge compile --arch gfx1100 --emulate-on cpu` hold one shared library per variant
//! (templates/prelude/cpu.h), which this device loads and calls. Device memory is this
//! process's memory and every launch runs to its end before `enqueue` returns, so streams,
//! events and graphs are bookkeeping. It exists so that a machine without a GPU, CI among them,
//! executes the AMD kernels' logic against the CPU reference; it is far too slow to run a model
//! for use, and `auto` never picks it.

use std::alloc::Layout;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, CStr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use libloading::Library;
use rocmforge_codegen::object::SIMULATOR_ENTRY;
use rocmforge_codegen::{Host, Target};

use crate::backend::gpu::driver::{fits, fits_copy};
use crate::backend::gpu::{
    dl, EventHandle, FunctionHandle, Gpu, GpuError, GraphHandle, ModuleHandle, RawBuffer, StreamHandle,
};

/// Device allocations are aligned as a GPU's are.
const ALIGN: usize = 256;

/// `rf_sim_launch(grid, threads, kernargs, error, error_len)`: 0, or 1 with `error` written.
type LaunchEntry = unsafe extern "C" fn(*const c_uint, c_uint, *const u8, *mut c_char, usize) -> c_int;

/// Work a captured graph replays.
#[derive(Clone)]
enum Op {
    Launch { function: FunctionHandle, grid: [u32; 3], block: u32, kernargs: Vec<u8> },
    Copy { dst: u64, src: u64, bytes: usize },
}

#[derive(Default)]
struct State {
    /// Live allocations by address.
    allocations: HashMap<u64, Layout>,
    /// Loaded libraries; a module handle is an index.
    libraries: Vec<Library>,
    functions: Vec<LaunchEntry>,
    next_stream: u64,
    /// The stream being captured, and what it has recorded.
    capture: Option<(StreamHandle, Vec<Op>)>,
    graphs: Vec<Option<Vec<Op>>>,
    events: Vec<Option<Instant>>,
}

/// The simulator, running `target`'s algorithms (its bundles are `<target>-on-cpu`).
pub struct Simulator {
    target: Target,
    state: RefCell<State>,
}

/// The targets whose algorithms the simulator runs, device `sim:N` the N-th.
pub const TARGETS: [Target; 3] = [Target::Gfx1100, Target::Gfx942, Target::Gfx950];

/// The simulator for `target`'s bundles. Only AMD targets are emulated on the CPU.
pub fn open(target: Target) -> Result<Simulator, GpuError> {
    if !cfg!(target_arch = "x86_64") {
        return Err(GpuError::Unavailable("the kernel simulator runs on x86-64 only".into()));
    }
    if !TARGETS.contains(&target) {
        return Err(GpuError::Unavailable(
            "the kernel simulator runs AMD targets' algorithms (sm_90's are NVIDIA instructions)".into(),
        ));
    }
    Ok(Simulator { target, state: RefCell::default() })
}

impl Simulator {
    fn run(&self, op: &Op) -> Result<(), GpuError> {
        match op {
            Op::Launch { function, grid, block, kernargs } => {
                let entry = self.state.borrow().functions.get(function.0 as usize).copied();
                let entry = entry.ok_or_else(|| GpuError::MissingKernel(format!("function handle {}", function.0)))?;
                let mut error = [0 as c_char; 512];
                // SAFETY: `entry` is a simulator library's `rf_sim_launch` (checked when the bundle
                // was verified); `grid` has three elements and `error` is as long as said. The
                // kernargs are laid out as the kernel's catalog entry says, as for a GPU, and the
                // pointers in them address allocations of this device.
                let status =
                    unsafe { entry(grid.as_ptr(), *block, kernargs.as_ptr(), error.as_mut_ptr(), error.len()) };
                if status != 0 {
                    // SAFETY: the entry NUL-terminates what it writes within the buffer.
                    let message = unsafe { CStr::from_ptr(error.as_ptr()) }.to_string_lossy().into_owned();
                    return Err(GpuError::Driver { call: "rf_sim_launch".into(), code: message });
                }
                Ok(())
            }
            Op::Copy { dst, src, bytes } => {
                // SAFETY: both ranges were checked against their allocations when the copy was
                // made; `copy` allows them to overlap.
                unsafe { std::ptr::copy(*src as *const u8, *dst as *mut u8, *bytes) };
                Ok(())
            }
        }
    }

    /// Runs `op` now, or records it if `stream` is being captured.
    fn submit(&self, stream: StreamHandle, op: Op) -> Result<(), GpuError> {
        if let Some((captured, ops)) = &mut self.state.borrow_mut().capture {
            if *captured == stream {
                ops.push(op);
                return Ok(());
            }
        }
        self.run(&op)
    }
}

/// `MemAvailable` and `MemTotal` from /proc/meminfo, in bytes.
fn host_memory() -> Result<(u64, u64), GpuError> {
    let text = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| GpuError::Unavailable(format!("reading /proc/meminfo: {e}")))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| GpuError::Unavailable(format!("/proc/meminfo has no {name}")))
    };
    Ok((field("MemAvailable:")?, field("MemTotal:")?))
}

impl Gpu for Simulator {
    fn describe(&self) -> String {
        "the CPU's kernel simulator".to_string()
    }

    fn target(&self) -> Result<Target, GpuError> {
        Ok(self.target)
    }

    fn host(&self) -> Result<Host, GpuError> {
        Ok(Host::Cpu)
    }

    fn alloc(&self, bytes: usize) -> Result<RawBuffer, GpuError> {
        let layout = Layout::from_size_align(bytes.max(1), ALIGN)
            .map_err(|e| GpuError::Driver { call: "alloc".into(), code: e.to_string() })?;
        // SAFETY: the layout's size is not zero.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(GpuError::Driver { call: "alloc".into(), code: format!("out of memory for {bytes} bytes") });
        }
        self.state.borrow_mut().allocations.insert(ptr as u64, layout);
        Ok(RawBuffer { ptr: ptr as u64, bytes })
    }

    fn free(&self, buf: RawBuffer) -> Result<(), GpuError> {
        let layout = self.state.borrow_mut().allocations.remove(&buf.ptr);
        let layout =
            layout.ok_or_else(|| GpuError::Driver { call: "free".into(), code: "not an allocation".into() })?;
        // SAFETY: allocated above with this layout, and removed from the table so freed once.
        unsafe { std::alloc::dealloc(buf.ptr as *mut u8, layout) };
        Ok(())
    }

    fn upload(&self, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError> {
        fits(src.len(), dst.bytes)?;
        // SAFETY: `dst` is an allocation of at least `src.len()` bytes (checked), not `src`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.ptr as *mut u8, src.len()) };
        Ok(())
    }

    fn download(&self, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError> {
        fits(dst.len(), src.bytes)?;
        // SAFETY: `src` is an allocation of at least `dst.len()` bytes (checked), not `dst`.
        unsafe { std::ptr::copy_nonoverlapping(src.ptr as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    // Copies with the host run at once, also while a stream is captured.
    unsafe fn upload_async(&self, _stream: StreamHandle, dst: &RawBuffer, src: &[u8]) -> Result<(), GpuError> {
        self.upload(dst, src)
    }

    unsafe fn download_async(&self, _stream: StreamHandle, src: &RawBuffer, dst: &mut [u8]) -> Result<(), GpuError> {
        self.download(src, dst)
    }

    fn fill(&self, dst: &RawBuffer, byte: u8) -> Result<(), GpuError> {
        // SAFETY: `dst` is an allocation of `dst.bytes` bytes.
        unsafe { std::ptr::write_bytes(dst.ptr as *mut u8, byte, dst.bytes) };
        Ok(())
    }

    fn copy_within_device(
        &self,
        stream: StreamHandle,
        dst: (&RawBuffer, usize),
        src: (&RawBuffer, usize),
        bytes: usize,
    ) -> Result<(), GpuError> {
        fits_copy(dst, src, bytes)?;
        self.submit(stream, Op::Copy { dst: dst.0.ptr + dst.1 as u64, src: src.0.ptr + src.1 as u64, bytes })
    }

    fn memory(&self) -> Result<(u64, u64), GpuError> {
        host_memory()
    }

    fn load_module(&self, code: &[u8]) -> Result<ModuleHandle, GpuError> {
        // dlopen takes a file: written, opened, then removed. Its name is never used twice in
        // this process, by this simulator or another: dlopen would return the library already
        // loaded under that name.
        static LOADED: AtomicU64 = AtomicU64::new(0);
        let n = LOADED.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("rocmforge-sim-{}-{n}.so", std::process::id()));
        let mut state = self.state.borrow_mut();
        std::fs::write(&path, code)
            .map_err(|e| GpuError::Driver { call: "load_module".into(), code: format!("{}: {e}", path.display()) })?;
        let library = dl::open_first("kernel simulator library", &[&path.to_string_lossy()]);
        let _ = std::fs::remove_file(&path);
        state.libraries.push(library?);
        Ok(ModuleHandle(state.libraries.len() as u64 - 1))
    }

    /// A simulator library holds one kernel: its launch entry.
    fn function(&self, module: ModuleHandle, symbol: &str) -> Result<FunctionHandle, GpuError> {
        let mut state = self.state.borrow_mut();
        let library = state.libraries.get(module.0 as usize).ok_or_else(|| GpuError::MissingKernel(symbol.into()))?;
        // SAFETY: `rf_sim_launch`'s signature in templates/prelude/cpu.h.
        let entry = unsafe { dl::entry::<LaunchEntry>(library, SIMULATOR_ENTRY) }?;
        state.functions.push(entry);
        Ok(FunctionHandle(state.functions.len() as u64 - 1))
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
        if shared_bytes > 0 {
            // No simulated kernel declares dynamic shared memory: only sm_90's GEMM does.
            return Err(GpuError::Unavailable(format!(
                "the kernel simulator has no dynamic shared memory ({shared_bytes} bytes asked)"
            )));
        }
        self.submit(stream, Op::Launch { function, grid, block, kernargs: kernargs.to_vec() })
    }

    fn synchronize(&self, _stream: StreamHandle) -> Result<(), GpuError> {
        Ok(())
    }

    fn create_stream(&self) -> Result<StreamHandle, GpuError> {
        let mut state = self.state.borrow_mut();
        state.next_stream += 1;
        Ok(StreamHandle(state.next_stream))
    }

    fn destroy_stream(&self, _stream: StreamHandle) -> Result<(), GpuError> {
        Ok(())
    }

    fn create_event(&self) -> Result<EventHandle, GpuError> {
        let mut state = self.state.borrow_mut();
        state.events.push(None);
        Ok(EventHandle(state.events.len() as u64 - 1))
    }

    fn record(&self, event: EventHandle, _stream: StreamHandle) -> Result<(), GpuError> {
        let mut state = self.state.borrow_mut();
        let slot = state.events.get_mut(event.0 as usize).ok_or_else(|| bad_handle("record", "event"))?;
        *slot = Some(Instant::now());
        Ok(())
    }

    fn elapsed_ms(&self, start: EventHandle, end: EventHandle) -> Result<f32, GpuError> {
        let state = self.state.borrow();
        let at = |e: EventHandle| state.events.get(e.0 as usize).copied().flatten();
        match (at(start), at(end)) {
            (Some(a), Some(b)) => Ok(b.saturating_duration_since(a).as_secs_f32() * 1e3),
            _ => Err(bad_handle("elapsed_ms", "unrecorded event")),
        }
    }

    fn destroy_event(&self, _event: EventHandle) -> Result<(), GpuError> {
        Ok(())
    }

    fn begin_capture(&self, stream: StreamHandle) -> Result<(), GpuError> {
        let mut state = self.state.borrow_mut();
        if state.capture.is_some() {
            return Err(bad_handle("begin_capture", "a capture already in progress"));
        }
        state.capture = Some((stream, Vec::new()));
        Ok(())
    }

    fn end_capture(&self, stream: StreamHandle) -> Result<GraphHandle, GpuError> {
        let mut state = self.state.borrow_mut();
        match state.capture.take() {
            Some((captured, ops)) if captured == stream => {
                state.graphs.push(Some(ops));
                Ok(GraphHandle(state.graphs.len() as u64 - 1))
            }
            other => {
                state.capture = other;
                Err(bad_handle("end_capture", "stream not being captured"))
            }
        }
    }

    fn launch_graph(&self, graph: GraphHandle, stream: StreamHandle) -> Result<(), GpuError> {
        let ops = self.state.borrow().graphs.get(graph.0 as usize).cloned().flatten();
        for op in ops.ok_or_else(|| bad_handle("launch_graph", "graph"))? {
            self.submit(stream, op)?;
        }
        Ok(())
    }

    fn destroy_graph(&self, graph: GraphHandle) -> Result<(), GpuError> {
        if let Some(slot) = self.state.borrow_mut().graphs.get_mut(graph.0 as usize) {
            *slot = None;
        }
        Ok(())
    }
}

fn bad_handle(call: &str, what: &str) -> GpuError {
    GpuError::Driver { call: call.into(), code: format!("bad {what}") }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for (ptr, layout) in self.state.get_mut().allocations.drain() {
            // SAFETY: each was allocated by `alloc` with this layout and not yet freed.
            unsafe { std::alloc::dealloc(ptr as *mut u8, layout) };
        }
    }
}

//! CUDA's driver API (`libcuda.so.1`), loaded at run time, so the binary starts on machines
//! without NVIDIA's driver and says why when it is asked for a GPU. Opening picks a device
//! and makes its primary context current; the rest is `gpu::driver`.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

use rocmforge_codegen::Target;

use crate::backend::gpu::driver::{check_with, Driver, ErrorNames, Runtime};
use crate::backend::gpu::{dl, GpuError};

const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: c_int = 75;
const CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: c_int = 16;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: c_int = 76;

type Status = c_int;

/// CUDA device `ordinal`, with its primary context current on the calling thread.
pub fn open(ordinal: usize) -> Result<Driver, GpuError> {
    let lib = dl::open_first("CUDA driver", &["libcuda.so.1", "libcuda.so"])?;
    // SAFETY (entry points): the CUDA driver API's signatures.
    let init: unsafe extern "C" fn(c_uint) -> Status = unsafe { dl::entry(&lib, "cuInit") }?;
    let device_count: unsafe extern "C" fn(*mut c_int) -> Status = unsafe { dl::entry(&lib, "cuDeviceGetCount") }?;
    let device_get: unsafe extern "C" fn(*mut c_int, c_int) -> Status = unsafe { dl::entry(&lib, "cuDeviceGet") }?;
    let device_name: unsafe extern "C" fn(*mut c_char, c_int, c_int) -> Status =
        unsafe { dl::entry(&lib, "cuDeviceGetName") }?;
    let attribute: unsafe extern "C" fn(*mut c_int, c_int, c_int) -> Status =
        unsafe { dl::entry(&lib, "cuDeviceGetAttribute") }?;
    let retain: unsafe extern "C" fn(*mut *mut c_void, c_int) -> Status =
        unsafe { dl::entry(&lib, "cuDevicePrimaryCtxRetain") }?;
    let set_current: unsafe extern "C" fn(*mut c_void) -> Status = unsafe { dl::entry(&lib, "cuCtxSetCurrent") }?;
    let errors = ErrorNames::Cuda(unsafe { dl::entry(&lib, "cuGetErrorName") }?);
    let check = |call: &str, status: Status| check_with(&errors, call, status);

    // SAFETY (calls below): out-pointers are valid locals or a buffer of the length passed.
    check("cuInit", unsafe { init(0) })?;
    let mut count = 0;
    check("cuDeviceGetCount", unsafe { device_count(&mut count) })?;
    if count == 0 {
        return Err(GpuError::Unavailable("the CUDA driver sees no device".into()));
    }
    if ordinal >= count as usize {
        return Err(GpuError::Unavailable(format!("CUDA device {ordinal} does not exist ({count} found)")));
    }
    let mut device = 0;
    check("cuDeviceGet", unsafe { device_get(&mut device, ordinal as c_int) })?;
    let mut ctx = std::ptr::null_mut();
    check("cuDevicePrimaryCtxRetain", unsafe { retain(&mut ctx, device) })?;
    check("cuCtxSetCurrent", unsafe { set_current(ctx) })?;
    let mut name = [0 as c_char; 256];
    check("cuDeviceGetName", unsafe { device_name(name.as_mut_ptr(), name.len() as c_int, device) })?;
    // SAFETY: the driver NUL-terminates within the buffer.
    let name = unsafe { CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned();
    let (mut major, mut minor) = (0, 0);
    check("cuDeviceGetAttribute", unsafe {
        attribute(&mut major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device)
    })?;
    check("cuDeviceGetAttribute", unsafe {
        attribute(&mut minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device)
    })?;

    let mut sms = 0;
    check("cuDeviceGetAttribute", unsafe { attribute(&mut sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device) })?;

    let arch = format!("sm_{major}{minor}");
    let target = arch.parse::<Target>().map_err(|_| format!("no kernels for {arch}: ROCmForge builds sm_90 bundles"));
    Ok(Driver::new(lib, Runtime::Cuda, errors, format!("{name} ({arch})"), target)?.with_compute_units(sms as u32))
}

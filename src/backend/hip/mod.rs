//! The HIP runtime (`libamdhip64`), loaded at run time: the binary needs no ROCm to start, and
//! on a machine with ROCm it finds the GPU and its architecture (gfx942, …). Opening picks
//! device 0; the rest is `gpu::driver`.

use std::ffi::{c_int, c_uint, c_void, CStr};

use crate::backend::gpu::driver::{check_with, Driver, ErrorNames, Runtime};
use crate::backend::gpu::{dl, GpuError};

/// Bytes reserved for `hipDeviceProp_t` (about 1.5 KB in ROCm 6; its layout changes between
/// releases, so only its first field, the name, and the `gcnArchName` string, found by its
/// content, are read).
const DEVICE_PROP_BYTES: usize = 8192;

type Status = c_int;

/// The AMD target id inside the device properties (`gfx942:sramecc+:xnack-`).
fn arch_in(props: &[u8]) -> Option<String> {
    let at = props.windows(4).position(|w| w.starts_with(b"gfx") && w[3].is_ascii_alphanumeric())?;
    let end = props[at..].iter().position(|&b| b == 0).map_or(props.len(), |n| at + n);
    String::from_utf8(props[at..end].to_vec()).ok()
}

/// HIP device `ordinal`.
pub fn open(ordinal: usize) -> Result<Driver, GpuError> {
    let lib = dl::open_first(
        "HIP runtime",
        &["libamdhip64.so", "libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5", "/opt/rocm/lib/libamdhip64.so"],
    )?;
    // SAFETY (entry points): the HIP runtime API's signatures. ROCm 6 renamed the properties
    // call (its struct grew); ROCm 5 has only the old name.
    let init: unsafe extern "C" fn(c_uint) -> Status = unsafe { dl::entry(&lib, "hipInit") }?;
    let device_count: unsafe extern "C" fn(*mut c_int) -> Status = unsafe { dl::entry(&lib, "hipGetDeviceCount") }?;
    let set_device: unsafe extern "C" fn(c_int) -> Status = unsafe { dl::entry(&lib, "hipSetDevice") }?;
    let properties: unsafe extern "C" fn(*mut c_void, c_int) -> Status =
        unsafe { dl::entry(&lib, "hipGetDevicePropertiesR0600") }
            .or_else(|_| unsafe { dl::entry(&lib, "hipGetDeviceProperties") })?;
    let errors = ErrorNames::Hip(unsafe { dl::entry(&lib, "hipGetErrorName") }?);
    let check = |call: &str, status: Status| check_with(&errors, call, status);

    // SAFETY (calls below): out-pointers are valid locals or a buffer larger than the struct.
    check("hipInit", unsafe { init(0) })?;
    let mut count = 0;
    check("hipGetDeviceCount", unsafe { device_count(&mut count) })?;
    if count == 0 {
        return Err(GpuError::Unavailable("the HIP runtime sees no device".into()));
    }
    if ordinal >= count as usize {
        return Err(GpuError::Unavailable(format!("HIP device {ordinal} does not exist ({count} found)")));
    }
    check("hipSetDevice", unsafe { set_device(ordinal as c_int) })?;
    let mut props = vec![0u8; DEVICE_PROP_BYTES];
    check("hipGetDeviceProperties", unsafe { properties(props.as_mut_ptr().cast(), ordinal as c_int) })?;
    let name = CStr::from_bytes_until_nul(&props).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let arch =
        arch_in(&props).ok_or_else(|| GpuError::Unavailable("the HIP device reports no gfx architecture".into()))?;
    let target =
        arch.parse().map_err(|_| format!("no kernels for {arch}: ROCmForge builds gfx1100, gfx942 and gfx950"));
    Driver::new(lib, Runtime::Hip, errors, format!("{name} ({arch})"), target)
}

#[cfg(test)]
mod tests {
    use rocmforge_codegen::Target;

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

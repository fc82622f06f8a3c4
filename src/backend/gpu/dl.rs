//! Driver libraries loaded at run time: the first of several names that loads, and typed entry
//! points with an error that names what is missing.

use libloading::Library;

use super::GpuError;

/// The first library of `names` that loads, or an error listing why each did not.
pub fn open_first(what: &str, names: &[&str]) -> Result<Library, GpuError> {
    let mut reasons = Vec::new();
    for name in names {
        // SAFETY: loading a GPU driver library runs its initialisers, as any program using it does.
        match unsafe { Library::new(*name) } {
            Ok(lib) => return Ok(lib),
            Err(e) => {
                // libloading's message is "dlopen failed"; dlerror's text is its source.
                let detail = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
                reasons.push(detail);
            }
        }
    }
    Err(GpuError::Unavailable(format!("no {what} ({})", reasons.join("; "))))
}

/// Entry point `name` with the C signature `T` (a function pointer type).
///
/// # Safety
/// `T` must be the symbol's true signature.
pub unsafe fn entry<T: Copy>(lib: &Library, name: &str) -> Result<T, GpuError> {
    // SAFETY: upheld by the caller.
    unsafe { lib.get::<T>(name.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| GpuError::Unavailable(format!("the driver library has no {name}: {e}")))
}

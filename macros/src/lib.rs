//! `launchers!(path::to::runtime)`: one typed launcher module per kernel family of the codegen
//! catalog. Each module has:
//! - `Kernarg`, `#[repr(C)]` and laid out as the kernel's arguments, and its `LAYOUT` (checked
//!   against every code object when a bundle loads);
//! - an enum per word axis;
//! - `Args`, the named arguments of one launch: views of device buffers (`ViewMut` for what the
//!   kernel writes), the scalars, and the launch-only sizes;
//! - `Kernel`, a variant resolved once (`Kernel::resolve` with the axis values; generic over the
//!   block type for families with a quant axis), whose `launch(stream, args)` checks every view
//!   against the extent the catalog declares for the sizes passed, computes the grid from the
//!   catalog's rule and enqueues the launch with no lookup;
//! - for families with a quant axis, `ByQuant`: the variant for every format, resolved once.
//!
//! Beside the modules: `LAYOUTS`, `QuantBuffer` with `with_blocks!` and `for_quant`, the dispatch from a
//! weight's run-time format to the typed launchers. `path::to::runtime` must provide
//! `DeviceBuffer`, `View`, `ViewMut`, `QuantBlock`, `BlockQ8_1`, `blocks` (the block types),
//! `Quant`, `Target`, `Gpu`, `GpuError`, `StreamHandle`, `Kernels`, `Resolved`, `check_extent`,
//! `LaunchError` and `f16`.
//!
//! The macro only turns the catalog into tokens; the catalog and its rules live in
//! `rocmforge-codegen`.

mod expand;

use proc_macro::TokenStream;

#[proc_macro]
pub fn launchers(input: TokenStream) -> TokenStream {
    match syn::parse::<syn::Path>(input) {
        Ok(runtime) => expand::all(&runtime, &rocmforge_codegen::kernels::catalog()).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

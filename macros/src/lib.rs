//! `launchers!(path::to::runtime)`: one typed launcher module per kernel family of the codegen
//! catalog. Each module has a `#[repr(C)]` `Kernarg` struct laid out as the kernel's arguments,
//! its `LAYOUT` (checked against every code object when a bundle loads), an enum per word axis,
//! and `launch`, which takes typed device buffers (`&mut` for what the kernel writes), the axis
//! values and the launch-only sizes, builds the variant key and computes the grid from the
//! catalog's rule. `path::to::runtime` must provide `DeviceBuffer`, `DeviceElem`,
//! `QuantBlock`, `BlockQ8_1`, `Kernels`, `LaunchError` and `f16`.
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

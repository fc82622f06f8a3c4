//! ROCmForge's kernel compiler, shared by `build.rs`, the CLI (`rocmforge compile`,
//! `rocmforge kernels`) and the GPU runtime. Kernels are Askama templates in `templates/`; the
//! catalog (`kernels/`) declares each family once; a bundle is every variant of the catalog
//! compiled for one target, checked against the catalog, with a manifest.
//!
//! The pipeline: [`kernels::catalog`] → [`Family::variants`] → render → [`signature::check`]
//! → [`toolchain::Toolchain::compile`] (cached) → [`object`] → [`validate::validate`] →
//! [`bundle::Bundle`].

pub mod bundle;
pub mod catalog;
mod error;
pub mod extent;
pub mod kernels;
pub mod object;
pub mod pipeline;
pub mod quant;
pub mod signature;
mod target;
pub mod toolchain;
pub mod validate;
pub mod variant;

pub use catalog::Family;
pub use error::Error;
pub use pipeline::{compile_bundle, CompileOptions, Progress};
pub use quant::Quant;
pub use target::{Host, MatrixUnit, Target, UnknownHost, UnknownTarget, Vendor};
pub use variant::Variant;

//! ROCmForge's kernel compiler, shared by `build.rs`, the launch-wrapper macros and the
//! runtime. It starts with the compile targets: what each GPU is, so that kernel variants
//! are specialised by facts (wave size, matrix units, LDS) rather than by name checks
//! scattered through templates.

mod target;

pub use target::{MatrixUnit, Target, UnknownTarget, Vendor};

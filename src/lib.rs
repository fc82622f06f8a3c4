//! ROCmForge: GGUF inference with a CPU reference backend and build-time-compiled GPU kernels.
//!
//! Module order is dependency order: a module uses only those listed above it.
//! `gguf` → `quant` → `tokenizer` → `model` → `backend` → `engine` → `parity` → `cli`.

pub mod backend;
pub mod engine;
pub mod fetch;
pub mod gguf;
pub mod kernel_bench;
pub mod model;
pub mod parity;
pub mod progress;
pub mod quant;
pub mod tokenizer;

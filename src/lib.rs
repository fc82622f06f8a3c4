//! ROCmForge: GGUF inference with a CPU reference backend and build-time-compiled GPU kernels.
//!
//! Module order is dependency order: a module uses only those listed above it.
//! `gguf` → `quant` → `tokenizer` → `model` → `backend` → `engine` → `cli`.

pub mod gguf;
pub mod quant;
pub mod tokenizer;
pub mod fetch;
pub mod progress;
pub mod model;
pub mod backend;
pub mod engine;

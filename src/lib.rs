//! ROCmForge: GGUF inference with a CPU reference backend and build-time-compiled GPU kernels.
//!
//! Module order is dependency order: a module uses only those listed above it.
//! `gguf` → `quant` → `tokenizer` → `model` → `backend` → `engine` → `serve`. The binary adds `cli` and
//! `tools` (the kernel parity harness and benchmarks) on top.

pub mod backend;
pub mod engine;
pub mod fetch;
pub mod gguf;
pub mod model;
pub mod progress;
pub mod quant;
pub mod serve;
pub mod tokenizer;

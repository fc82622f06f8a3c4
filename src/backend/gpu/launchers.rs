//! The typed launchers, one module per kernel family, generated from the codegen catalog by
//! `rocmforge_macros::launchers!` (see that crate for what each module holds), and
//! `QuantBuffer` with `with_blocks!`, the dispatch from a weight's run-time format to them.
//!
//! ```ignore
//! let norm = rmsnorm::Kernel::resolve(&kernels)?; // once, at load
//! norm.launch(stream, rmsnorm::Args { y: y.view_mut(), x: x.view(), w: w.view(), n: 2048, eps: 1e-6, n_rows: 1 })?;
//! let matvec = matvec::ByQuant::resolve(&kernels);
//! with_blocks!(&weight, |b| matvec.get()?.launch(stream, matvec::Args { y: y.view_mut(), w: b.view(), xq: xq.view(), n_cols, n_rows }))?;
//! ```

rocmforge_macros::launchers!(crate::backend::gpu);

//! The typed launchers, one module per kernel family, generated from the codegen catalog by
//! `rocmforge_macros::launchers!` (see that crate for what each module holds).
//!
//! ```ignore
//! launchers::rmsnorm::launch(&kernels, &mut y, &x, &w, n, eps, n_rows)?;
//! launchers::quantize_q8_1::launch(&kernels, &mut xq, &x, n_cols, 1)?;
//! launchers::matvec::launch::<BlockQ4K>(&kernels, &mut y, &w, &xq, n_cols, n_rows)?;
//! launchers::rope::launch(&kernels, rope::Mode::Neox, 128, &mut q, &pos, None, n_heads, n_rot, theta_scale, 1.0, n_tokens)?;
//! ```

rocmforge_macros::launchers!(crate::backend::gpu);

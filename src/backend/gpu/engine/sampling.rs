//! Sampling on the device in two stages, so that a 262k vocabulary is read by many workgroups
//! at once: `topk` keeps each 4096-logit slice's top-k with their token ids, then `sample`
//! draws from those candidates (top-p, min-p, temperature, the host-drawn uniform) as the CPU
//! sampler's `pick` does.

use std::rc::Rc;

use rocmforge_codegen::kernels::sample::K_MAX;
use rocmforge_codegen::kernels::topk::SLICE;

use crate::backend::cpu::sample::SamplerConfig;
use crate::backend::gpu::launchers::{sample, topk};
use crate::backend::gpu::{DeviceBuffer, Gpu, Kernels, LaunchError};

pub struct DeviceSampler {
    cand_v: DeviceBuffer<f32>,
    cand_i: DeviceBuffer<i32>,
    draws: DeviceBuffer<f32>,
    n_vocab: usize,
}

impl DeviceSampler {
    /// Work buffers for up to `max_rows` rows of `n_vocab` logits.
    pub fn new(gpu: &Rc<dyn Gpu>, n_vocab: usize, max_rows: usize) -> Result<Self, LaunchError> {
        let candidates = max_rows * n_vocab.div_ceil(SLICE as usize) * K_MAX as usize;
        Ok(DeviceSampler {
            cand_v: DeviceBuffer::uninit(gpu, candidates)?,
            cand_i: DeviceBuffer::uninit(gpu, candidates)?,
            draws: DeviceBuffer::uninit(gpu, max_rows)?,
            n_vocab,
        })
    }

    /// Whether the device can sample with `cfg` (penalties need the host's history, and a
    /// top-k beyond the kernel's candidate space needs the whole row).
    pub fn supports(cfg: &SamplerConfig, n_vocab: usize) -> bool {
        cfg.temperature > 0.0
            && (1..=K_MAX as usize).contains(&cfg.top_k)
            && cfg.top_k <= n_vocab
            && !cfg.has_penalties()
    }

    /// Copies in the uniforms of the next draws, one per row (synchronously).
    pub fn set_draws(&mut self, draws: &[f32]) -> Result<(), LaunchError> {
        Ok(self.draws.upload_at(0, draws)?)
    }

    /// Enqueues the draw of one token per row of `logits` into `out`, row i with the i-th
    /// uniform given to `set_draws`.
    pub fn enqueue(
        &mut self,
        k: &Kernels,
        out: &mut DeviceBuffer<i32>,
        logits: &DeviceBuffer<f32>,
        cfg: &SamplerConfig,
        rows: u32,
    ) -> Result<(), LaunchError> {
        let (n, top_k) = (self.n_vocab as i32, cfg.top_k as i32);
        topk::launch(k, &mut self.cand_v, &mut self.cand_i, logits, n, top_k, rows)?;
        let n_cand = self.n_vocab.div_ceil(SLICE as usize) as i32 * top_k;
        let (p, m, t) = (cfg.top_p, cfg.min_p, cfg.temperature);
        sample::launch(k, out, &self.cand_v, Some(&self.cand_i), &self.draws, n_cand, top_k, p, m, t, rows)
    }
}

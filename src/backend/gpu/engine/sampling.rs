//! Sampling on the device in two stages, so that a 262k vocabulary is read by many workgroups
//! at once: `topk` keeps each 4096-logit slice's top-k with their token ids, then `sample`
//! draws from those candidates (top-p, min-p, temperature, the host-drawn uniform) as the CPU
//! sampler's `pick` does.

use rocmforge_codegen::kernels::sample::K_MAX;
use rocmforge_codegen::kernels::topk::SLICE;

use crate::backend::cpu::sample::SamplerConfig;
use crate::backend::gpu::launchers::{sample, topk};
use crate::backend::gpu::{DeviceBuffer, Kernels, LaunchError, StreamHandle};

pub struct DeviceSampler {
    topk: topk::Kernel,
    sample: sample::Kernel,
    cand_v: DeviceBuffer<f32>,
    cand_i: DeviceBuffer<i32>,
    draws: DeviceBuffer<f32>,
    n_vocab: usize,
}

impl DeviceSampler {
    /// Work buffers for up to `max_rows` rows of `n_vocab` logits.
    pub fn new(kernels: &Kernels, n_vocab: usize, max_rows: usize) -> Result<Self, LaunchError> {
        let gpu = kernels.gpu();
        let candidates = max_rows * n_vocab.div_ceil(SLICE as usize) * K_MAX as usize;
        Ok(DeviceSampler {
            topk: topk::Kernel::resolve(kernels)?,
            sample: sample::Kernel::resolve(kernels)?,
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

    /// Enqueues on `stream` the draw of one token per row of `logits` into `out`, row i with
    /// the i-th uniform given to `set_draws`.
    pub fn enqueue(
        &mut self,
        stream: StreamHandle,
        out: &mut DeviceBuffer<i32>,
        logits: &DeviceBuffer<f32>,
        cfg: &SamplerConfig,
        n_rows: u32,
    ) -> Result<(), LaunchError> {
        let top_k = cfg.top_k as i32;
        let args = topk::Args {
            cand_v: self.cand_v.view_mut(),
            cand_i: self.cand_i.view_mut(),
            logits: logits.view(),
            n: self.n_vocab as i32,
            top_k,
            n_rows,
        };
        self.topk.launch(stream, args)?;
        let args = sample::Args {
            out: out.view_mut(),
            logits: self.cand_v.view(),
            idx: Some(self.cand_i.view()),
            r: self.draws.view(),
            n: self.n_vocab.div_ceil(SLICE as usize) as i32 * top_k,
            top_k,
            top_p: cfg.top_p,
            min_p: cfg.min_p,
            temperature: cfg.temperature,
            n_rows,
        };
        self.sample.launch(stream, args)
    }
}

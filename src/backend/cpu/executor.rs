//! The CPU device: its worker pool, and an executor that runs the decoder graph
//! (`backend::graph`) with the CPU ops, which reproduce llama.cpp's CPU arithmetic.

use std::ops::Range;

use super::attention::{attention, AttentionShape};
use super::kv_cache::KvCache;
use super::matmul::{matmul, MatmulScratch, QMatrix};
use super::pool::Pool;
use super::{ops, vec, SumOrder};
use crate::backend::graph::{self, Act, LayerTensor, Ops, Weight};
use crate::backend::kv_blocks::KvBlocks;
use crate::backend::{check_output_rows, BackendError, Batch, Executor, Run};
use crate::model::{Activation, Matrix, Model};

/// The CPU as a device: the worker threads every CPU executor computes on.
pub struct CpuDevice {
    pool: Pool,
}

impl CpuDevice {
    /// `threads` workers (0: one per core the OS reports).
    pub fn new(threads: usize) -> Result<Self, BackendError> {
        let threads = if threads == 0 { default_threads() } else { threads };
        let pool = Pool::new(threads, "rocmforge-cpu")
            .map_err(|e| BackendError::Threads(format!("cannot start {threads} worker threads: {e}")))?;
        Ok(CpuDevice { pool })
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Runs `f` on this thread, its parallel loops on the device's threads.
    pub fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        self.pool.install(f)
    }
}

/// One thread per physical core is what llama.cpp defaults to; we take what the OS reports.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

const N_ACTS: usize = 13;

fn slot(a: Act) -> usize {
    a as usize
}

/// Runs a model on the CPU for up to `n_seq` sequences of up to `n_ctx` positions each.
pub struct CpuExecutor<'m> {
    model: &'m Model,
    device: &'m CpuDevice,
    kv: KvCache,
    mm: MatmulScratch,
    order: SumOrder,
    acts: [Vec<f32>; N_ACTS],
    batch: Batch,
    runs: Vec<Run>,
    /// Final-norm hidden states of the last batch's tokens that want logits.
    hidden: Vec<f32>,
}

impl<'m> CpuExecutor<'m> {
    pub fn new(model: &'m Model, device: &'m CpuDevice, n_ctx: usize, n_seq: usize) -> Result<Self, BackendError> {
        let c = &model.config;
        let kv = KvCache::new(c.n_layer, n_ctx, c.kv_dim(), n_seq)?;
        Ok(CpuExecutor {
            model,
            device,
            kv,
            mm: MatmulScratch::default(),
            order: SumOrder::Fastest,
            acts: Default::default(),
            batch: Batch::new(),
            runs: Vec::new(),
            hidden: Vec::new(),
        })
    }

    /// Takes the batch's sums in `order` (llama.cpp's unless told).
    pub fn summing(mut self, order: SumOrder) -> Self {
        self.order = order;
        self
    }

    fn width(&self, a: Act) -> usize {
        let c = &self.model.config;
        match a {
            Act::X | Act::Xn | Act::Proj | Act::Normed => c.n_embd,
            Act::Q | Act::QNormed | Act::Attn => c.q_dim(),
            Act::K | Act::V | Act::KNormed => c.kv_dim(),
            Act::Gate | Act::Up | Act::Ffn => c.n_ff,
        }
    }

    /// Takes buffer `a` out (sized for the batch) so that it can be written while others are read.
    fn take(&mut self, a: Act) -> Vec<f32> {
        let mut v = std::mem::take(&mut self.acts[slot(a)]);
        v.resize(self.batch.len() * self.width(a), 0.0);
        v
    }

    fn put(&mut self, a: Act, v: Vec<f32>) {
        self.acts[slot(a)] = v;
    }

    fn act(&self, a: Act) -> &[f32] {
        &self.acts[slot(a)]
    }

    /// A norm or bias vector; the graph asks only for those the model has.
    fn vector(&self, w: Weight) -> &'m [f32] {
        let ws = &self.model.weights;
        match w {
            Weight::OutputNorm => &ws.output_norm,
            Weight::Layer(il, t) => ws.layers[il].vector(t).unwrap_or_else(|| panic!("the model has no {w:?}")),
        }
    }

    fn matrix(&self, w: Weight) -> &'m Matrix {
        let Weight::Layer(il, t) = w else { panic!("{w:?} is not a matrix") };
        self.model.weights.layers[il].matrix(t).unwrap_or_else(|| panic!("{w:?} is not a matrix"))
    }

    fn matmul_into(&mut self, m: &Matrix, x: &[f32], n: usize, out: &mut [f32]) -> Result<(), BackendError> {
        let w = QMatrix { ty: m.ty, data: self.model.data(m), rows: m.rows, cols: m.cols };
        matmul(w, x, n, self.order, out, &mut self.mm).map_err(BackendError::from)
    }

    fn forward_on_pool(&mut self) -> Result<(), BackendError> {
        let model = self.model;
        graph::forward(self, &model.config, &model.weights)?;
        let embd = model.config.n_embd;
        let xn = self.act(Act::Xn);
        self.hidden = self.batch.logit_rows().iter().flat_map(|&r| xn[r * embd..(r + 1) * embd].to_vec()).collect();
        for run in &self.runs {
            self.kv.blocks_mut().commit(run.seq, run.pos0 + run.len);
        }
        Ok(())
    }
}

impl Executor for CpuExecutor<'_> {
    fn forward(&mut self, batch: &Batch) -> Result<(), BackendError> {
        let c = &self.model.config;
        let blocks = self.kv.blocks();
        self.runs = batch.runs(blocks.n_seq(), self.n_ctx(), c.n_vocab, |s| blocks.len(s))?;
        for run in &self.runs {
            self.kv.prepare(run.seq, run.pos0, run.len)?;
        }
        self.batch = batch.clone();
        let device = self.device;
        device.install(|| self.forward_on_pool())
    }

    fn n_outputs(&self) -> usize {
        self.hidden.len() / self.model.config.n_embd
    }

    fn logits(&mut self, rows: Range<usize>) -> Result<Vec<f32>, BackendError> {
        check_output_rows(&rows, self.n_outputs())?;
        let c = &self.model.config;
        let hidden = std::mem::take(&mut self.hidden);
        let x = &hidden[rows.start * c.n_embd..rows.end * c.n_embd];
        let mut logits = vec![0.0; rows.len() * c.n_vocab];
        let device = self.device;
        let model = self.model;
        let result = device.install(|| self.matmul_into(&model.weights.output, x, rows.len(), &mut logits));
        self.hidden = hidden;
        result?;
        if let Some(cap) = c.final_logit_softcap {
            ops::softcap(&mut logits, cap);
        }
        Ok(logits)
    }

    fn kv_blocks(&self) -> &KvBlocks {
        self.kv.blocks()
    }

    fn truncate(&mut self, seq: usize, len: usize) {
        self.kv.blocks_mut().truncate(seq, len);
    }

    fn share_prefix(&mut self, src: usize, dst: usize, len: usize) {
        self.kv.blocks_mut().share(src, dst, len);
    }

    fn n_ctx(&self) -> usize {
        self.kv.n_ctx()
    }

    fn describe(&self) -> String {
        format!("CPU ({} threads)", self.device.threads())
    }
}

impl Ops for CpuExecutor<'_> {
    fn embed(&mut self, out: Act) -> Result<(), BackendError> {
        let c = &self.model.config;
        let e = &self.model.weights.token_embd;
        let data = self.model.data(e);
        let row_bytes = data.len() / e.rows;
        let mut x = self.take(out);
        for (row, t) in x.chunks_exact_mut(c.n_embd).zip(self.batch.ids()) {
            let t = t as usize;
            crate::quant::dequantize_row(e.ty, &data[t * row_bytes..(t + 1) * row_bytes], row)?;
            if c.embd_scale != 1.0 {
                vec::scale(row, c.embd_scale);
            }
        }
        self.put(out, x);
        Ok(())
    }

    fn rmsnorm(&mut self, out: Act, x: Act, w: Weight, width: usize) -> Result<(), BackendError> {
        let (w, eps) = (self.vector(w), self.model.config.rms_eps);
        let mut y = self.take(out);
        for (yr, xr) in y.chunks_exact_mut(width).zip(self.act(x).chunks_exact(width)) {
            ops::rmsnorm(yr, xr, w, eps);
        }
        self.put(out, y);
        Ok(())
    }

    fn add_rmsnorm(&mut self, out: Act, h: Act, r: Act, w: Weight) -> Result<(), BackendError> {
        let mut hv = self.take(h);
        vec::add_assign(&mut hv, self.act(r));
        self.put(h, hv);
        self.rmsnorm(out, h, w, self.model.config.n_embd)
    }

    fn matmul(&mut self, out: Act, w: Weight, x: Act) -> Result<(), BackendError> {
        let m = self.matrix(w);
        let mut y = self.take(out);
        let xv = std::mem::take(&mut self.acts[slot(x)]);
        let result = self.matmul_into(m, &xv, self.batch.len(), &mut y);
        self.put(x, xv);
        self.put(out, y);
        result
    }

    fn add_bias(&mut self, x: Act, bias: Weight) -> Result<(), BackendError> {
        let b = self.vector(bias);
        let mut v = self.take(x);
        v.chunks_exact_mut(b.len()).for_each(|row| vec::add_assign(row, b));
        self.put(x, v);
        Ok(())
    }

    fn rope_and_store(&mut self, il: usize, q: Act, k: Act, v: Act) -> Result<(), BackendError> {
        let c = &self.model.config;
        let (base, scale) = c.rope_for_layer(il);
        let factors = self.model.weights.rope_freqs.as_deref();
        let (mut qv, mut kv) = (self.take(q), self.take(k));
        let (q_dim, kv_dim) = (c.q_dim(), c.kv_dim());
        for (t, tok) in self.batch.tokens().iter().enumerate() {
            let angles = ops::rope_angles(tok.pos, c.rope.n_rot, base, scale, factors);
            for h in qv[t * q_dim..(t + 1) * q_dim].chunks_exact_mut(c.head_dim) {
                ops::rope(h, &angles, c.rope.kind);
            }
            for h in kv[t * kv_dim..(t + 1) * kv_dim].chunks_exact_mut(c.head_dim) {
                ops::rope(h, &angles, c.rope.kind);
            }
        }
        for run in &self.runs {
            let rows = run.start * kv_dim..(run.start + run.len) * kv_dim;
            self.kv.store(il, run.seq, run.pos0, &kv[rows.clone()], &self.acts[slot(v)][rows]);
        }
        self.put(q, qv);
        self.put(k, kv);
        Ok(())
    }

    fn attention(&mut self, out: Act, il: usize, q: Act) -> Result<(), BackendError> {
        let c = &self.model.config;
        let q_dim = c.q_dim();
        let shape = AttentionShape {
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: c.head_dim,
            window: c.window_for_layer(il),
            scale: 1.0,
        };
        // Q takes the attention scale first, as in llama.cpp's graphs.
        let mut qv = self.take(q);
        vec::scale(&mut qv, c.attn_scale);
        let mut o = self.take(out);
        for run in &self.runs {
            let rows = run.start * q_dim..(run.start + run.len) * q_dim;
            let kv = self.kv.rows(il, run.seq);
            attention(&qv[rows.clone()], kv, run.pos0, &shape, self.order, &mut o[rows]);
        }
        self.put(q, qv);
        self.put(out, o);
        Ok(())
    }

    fn gated_ffn(&mut self, out: Act, il: usize, x: Act) -> Result<(), BackendError> {
        self.matmul(Act::Gate, Weight::Layer(il, LayerTensor::FfnGate), x)?;
        self.matmul(Act::Up, Weight::Layer(il, LayerTensor::FfnUp), x)?;
        let mut gate = self.take(Act::Gate);
        match self.model.config.activation {
            Activation::GeGlu => ops::geglu(&mut gate, self.act(Act::Up)),
            Activation::SwiGlu => ops::swiglu(&mut gate, self.act(Act::Up)),
        }
        self.put(out, gate);
        Ok(())
    }
}

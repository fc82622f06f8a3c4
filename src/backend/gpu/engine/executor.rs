//! The decoder graph on a GPU: `Ops` through the generated launchers, over activation buffers
//! allocated once for the largest batch, and a KV cache in device memory sized up front. Only
//! token ids and positions go to the device per batch, and only sampled ids, or the logits a
//! caller asks for, come back. A single-token step of one sequence is captured as a graph the
//! first time and replayed after that (ids and positions are read from device memory).

use std::ops::Range;
use std::rc::Rc;

use super::sampling::DeviceSampler;
use super::weights::{same_format, with_blocks, GpuMatrix, GpuModel, QuantBuffer};
use crate::backend::cpu::sample::{pick, SamplerConfig};
use crate::backend::gpu::launchers::{
    add_rows, argmax, attn_decode, attn_decode_reduce, attn_prefill, dequant, embed, gemm_f16, glu, matvec, matvec_glu,
    quantize_q8_1, rmsnorm, rmsnorm_add, rope_kv, to_f16,
};
use crate::backend::gpu::{f16, BlockQ8_1, DeviceBuffer, Gpu, GraphHandle, Kernels, StreamHandle};
use crate::backend::graph::{self, Act, Ops, Weight};
use crate::backend::{check_output_rows, BackendError, Batch, Executor, Run};
use crate::model::{Activation, Model, ModelConfig, RopeKind};

/// Tokens computed in one pass; longer batches are cut into pieces of this size (llama.cpp's
/// default ubatch).
pub const UBATCH: usize = 512;
/// Keys per workgroup of decode attention.
const SPLIT_LEN: usize = 256;
const N_ACTS: usize = 13;

pub struct GpuExecutor<'m> {
    model: &'m Model,
    gpu_model: &'m GpuModel,
    stream: StreamHandle,
    n_ctx: usize,
    /// Per layer, per sequence: keys and values, [n_ctx][kv_dim] f16.
    kv: Vec<Vec<(DeviceBuffer<f16>, DeviceBuffer<f16>)>>,
    seq_len: Vec<usize>,
    acts: Vec<DeviceBuffer<f32>>,
    ids: DeviceBuffer<i32>,
    pos: DeviceBuffer<i32>,
    part_o: DeviceBuffer<f32>,
    part_ml: DeviceBuffer<f32>,
    /// An activation quantized to q8_1 for the mat-vecs, and which one it is (Q, K and V, or
    /// gate and up, read the same): cleared by every op that writes an activation.
    xq: DeviceBuffer<BlockQ8_1>,
    xq_of: Option<Act>,
    /// f16 activations and dequantized weights of the prefill GEMM.
    a16: DeviceBuffer<f16>,
    w16: DeviceBuffer<f16>,
    /// Final-norm hidden states of the tokens that asked for logits.
    hidden: DeviceBuffer<f32>,
    n_outputs: usize,
    logits: DeviceBuffer<f32>,
    sampled: DeviceBuffer<i32>,
    sampler: DeviceSampler,
    /// The run being computed (one sequence's consecutive tokens, at most `UBATCH`).
    run: Run,
    decode_graphs: Vec<Option<GraphHandle>>,
}

impl<'m> GpuExecutor<'m> {
    pub fn new(model: &'m Model, gpu_model: &'m GpuModel, n_ctx: usize, n_seq: usize) -> Result<Self, BackendError> {
        let c = &model.config;
        if !c.n_embd.is_multiple_of(32) {
            return Err(BackendError::Unsupported(format!(
                "an embedding width of {} (the GPU needs a multiple of 32)",
                c.n_embd
            )));
        }
        let gpu = Rc::clone(gpu_model.kernels.gpu());
        let kv_bytes = (2 * c.n_layer * n_seq) as u64 * (n_ctx as u64 * c.kv_dim() as u64 * 2);
        let (free, _) = gpu.memory()?;
        let scratch_bytes = scratch_bytes(c);
        if kv_bytes + scratch_bytes > free {
            return Err(BackendError::OutOfMemory {
                what: format!("the GPU's KV cache of {n_ctx} positions × {n_seq} sequences and its work buffers"),
                needed: kv_bytes + scratch_bytes,
                available: free,
            });
        }
        let f32s = |n: usize| DeviceBuffer::<f32>::uninit(&gpu, n);
        let kv = (0..c.n_layer)
            .map(|_| {
                (0..n_seq)
                    .map(|_| {
                        Ok((
                            DeviceBuffer::<f16>::uninit(&gpu, n_ctx * c.kv_dim())?,
                            DeviceBuffer::<f16>::uninit(&gpu, n_ctx * c.kv_dim())?,
                        ))
                    })
                    .collect::<Result<Vec<_>, BackendError>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let acts = (0..N_ACTS).map(|i| f32s(UBATCH * act_width(c, ACTS[i]))).collect::<Result<Vec<_>, _>>()?;
        let n_splits = n_ctx.div_ceil(SPLIT_LEN);
        let max_cols = c.n_embd.max(c.n_ff).max(c.q_dim());
        let stream = gpu.create_stream()?;
        Ok(GpuExecutor {
            model,
            gpu_model,
            stream,
            n_ctx,
            kv,
            seq_len: vec![0; n_seq],
            acts,
            ids: DeviceBuffer::uninit(&gpu, UBATCH)?,
            pos: DeviceBuffer::uninit(&gpu, UBATCH)?,
            part_o: f32s(c.n_head * n_splits * c.head_dim)?,
            part_ml: f32s(c.n_head * n_splits * 2)?,
            xq: DeviceBuffer::uninit(&gpu, UBATCH * max_cols / 32)?,
            xq_of: None,
            a16: DeviceBuffer::uninit(&gpu, UBATCH * max_cols)?,
            w16: DeviceBuffer::uninit(&gpu, largest_matrix(c))?,
            hidden: f32s(c.n_embd)?,
            n_outputs: 0,
            logits: f32s(UBATCH * c.n_vocab)?,
            sampled: DeviceBuffer::uninit(&gpu, UBATCH)?,
            sampler: DeviceSampler::new(&gpu, c.n_vocab, UBATCH)?,
            run: Run { seq: 0, pos0: 0, start: 0, len: 0 },
            decode_graphs: vec![None; n_seq],
        })
    }

    fn k(&self) -> &'m Kernels {
        &self.gpu_model.kernels
    }

    fn gpu(&self) -> &Rc<dyn Gpu> {
        self.gpu_model.kernels.gpu()
    }

    fn cfg(&self) -> &'m ModelConfig {
        &self.model.config
    }

    fn n(&self) -> u32 {
        self.run.len as u32
    }

    /// Computes one run through the graph (captured as a graph for single-token steps), then
    /// gathers the hidden states of its tokens that want logits into `hidden`.
    fn forward_run(&mut self, batch: &Batch, run: Run) -> Result<(), BackendError> {
        let toks = &batch.tokens()[run.start..run.start + run.len];
        let ids: Vec<i32> = toks.iter().map(|t| t.token as i32).collect();
        let pos: Vec<i32> = toks.iter().map(|t| t.pos as i32).collect();
        self.ids.upload_at(0, &ids)?;
        self.pos.upload_at(0, &pos)?;
        self.run = run;
        self.xq_of = None;
        let model = self.model;
        if run.len == 1 {
            let graph = match self.decode_graphs[run.seq] {
                Some(g) => g,
                None => {
                    let gpu = Rc::clone(self.gpu());
                    gpu.begin_capture(self.stream)?;
                    let recorded = graph::forward(self, &model.config, &model.weights);
                    let g = gpu.end_capture(self.stream)?;
                    if let Err(e) = recorded {
                        let _ = gpu.destroy_graph(g);
                        return Err(e);
                    }
                    self.decode_graphs[run.seq] = Some(g);
                    g
                }
            };
            self.gpu().launch_graph(graph, self.stream)?;
        } else {
            graph::forward(self, &model.config, &model.weights)?;
        }
        let embd = self.cfg().n_embd;
        for (i, _) in toks.iter().enumerate().filter(|(_, t)| t.logits) {
            let at = self.n_outputs * embd;
            self.hidden.copy_from(self.stream, at, &self.acts[slot(Act::Xn)], i * embd, embd)?;
            self.n_outputs += 1;
        }
        Ok(())
    }

    /// Forgets `xq` if it holds one of `acts`, which an op is about to write.
    fn wrote(&mut self, acts: &[Act]) {
        if self.xq_of.is_some_and(|a| acts.contains(&a)) {
            self.xq_of = None;
        }
    }

    /// `x` (one token) quantized to q8_1 in `xq`, unless it already is.
    fn quantize(&mut self, x: Act, cols: i32) -> Result<(), BackendError> {
        if self.xq_of != Some(x) {
            quantize_q8_1::launch(self.k(), &mut self.xq, &self.acts[slot(x)], cols, 1)?;
            self.xq_of = Some(x);
        }
        Ok(())
    }

    /// out = x Wᵀ for the run's tokens: the integer mat-vec over `x` quantized to q8_1 for one
    /// token, else the weights dequantized to f16 and the matrix-unit GEMM.
    fn project(&mut self, out: Act, w: &GpuMatrix, x: Act) -> Result<(), BackendError> {
        let (n, k) = (self.n(), self.k());
        let (rows, cols) = (w.rows as i32, w.cols as i32);
        if n == 1 {
            self.quantize(x, cols)?;
            let y = &mut self.acts[slot(out)];
            return Ok(with_blocks!(&w.blocks, |b| matvec::launch(k, y, b, &self.xq, cols, rows))?);
        }
        to_f16::launch(k, &mut self.a16, &self.acts[slot(x)], i64::from(n) * i64::from(cols))?;
        let n_sub = (w.rows * w.cols / 32) as i64;
        with_blocks!(&w.blocks, |b| dequant::launch(k, &mut self.w16, b, n_sub))?;
        gemm_f16::launch(k, &mut self.acts[slot(out)], &self.a16, &self.w16, n as i32, rows, cols)?;
        Ok(())
    }

    /// Logits of output rows `rows` (at most `UBATCH`) into `logits`, from `hidden`.
    fn lm_head_rows(&mut self, rows: Range<usize>) -> Result<(), BackendError> {
        // Another executor of the model may have launched since this one's forward.
        self.k().use_stream(self.stream);
        let c = self.cfg();
        let head = self.gpu_model.lm_head();
        let scratch = slot(Act::Xn);
        self.acts[scratch].copy_from(self.stream, 0, &self.hidden, rows.start * c.n_embd, rows.len() * c.n_embd)?;
        let k = self.k();
        let (vocab, embd, n) = (c.n_vocab as i32, c.n_embd as i32, rows.len() as u32);
        self.xq_of = None;
        if n == 1 {
            quantize_q8_1::launch(k, &mut self.xq, &self.acts[scratch], embd, 1)?;
            with_blocks!(&head.blocks, |b| matvec::launch(k, &mut self.logits, b, &self.xq, embd, vocab))?;
        } else {
            to_f16::launch(k, &mut self.a16, &self.acts[scratch], i64::from(n) * i64::from(embd))?;
            let n_sub = (head.rows * head.cols / 32) as i64;
            with_blocks!(&head.blocks, |b| dequant::launch(k, &mut self.w16, b, n_sub))?;
            gemm_f16::launch(k, &mut self.logits, &self.a16, &self.w16, n as i32, vocab, embd)?;
        }
        Ok(())
    }

    fn grow_hidden(&mut self, n_outputs: usize) -> Result<(), BackendError> {
        let need = n_outputs.max(1) * self.cfg().n_embd;
        if self.hidden.len() < need {
            self.hidden = DeviceBuffer::uninit(self.gpu(), need)?;
        }
        Ok(())
    }
}

impl Drop for GpuExecutor<'_> {
    fn drop(&mut self) {
        for g in self.decode_graphs.iter().flatten() {
            let _ = self.gpu().destroy_graph(*g);
        }
        self.gpu_model.kernels.use_stream(StreamHandle::DEFAULT);
        let _ = self.gpu().destroy_stream(self.stream);
    }
}

impl Executor for GpuExecutor<'_> {
    fn forward(&mut self, batch: &Batch) -> Result<(), BackendError> {
        let c = self.cfg();
        let lens = &self.seq_len;
        let runs = batch.runs(lens.len(), self.n_ctx, c.n_vocab, |s| lens[s])?;
        self.grow_hidden(batch.logit_rows().len())?;
        self.k().use_stream(self.stream);
        self.n_outputs = 0;
        for run in runs {
            for start in (0..run.len).step_by(UBATCH) {
                let len = UBATCH.min(run.len - start);
                let piece = Run { seq: run.seq, pos0: run.pos0 + start, start: run.start + start, len };
                self.forward_run(batch, piece)?;
                self.seq_len[run.seq] = piece.pos0 + len;
            }
        }
        Ok(())
    }

    fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    fn logits(&mut self, rows: Range<usize>) -> Result<Vec<f32>, BackendError> {
        check_output_rows(&rows, self.n_outputs)?;
        let c = self.cfg();
        let mut out = vec![0.0f32; rows.len() * c.n_vocab];
        for (i, start) in rows.clone().step_by(UBATCH).enumerate() {
            let end = (start + UBATCH).min(rows.end);
            self.lm_head_rows(start..end)?;
            self.gpu().synchronize(self.stream)?;
            let at = i * UBATCH * c.n_vocab;
            self.logits.download_at(0, &mut out[at..at + (end - start) * c.n_vocab])?;
        }
        if let Some(cap) = c.final_logit_softcap {
            crate::backend::cpu::ops::softcap(&mut out, cap);
        }
        Ok(out)
    }

    fn greedy(&mut self) -> Result<Vec<u32>, BackendError> {
        let c = self.cfg();
        let mut ids = Vec::with_capacity(self.n_outputs);
        for start in (0..self.n_outputs).step_by(UBATCH) {
            let end = (start + UBATCH).min(self.n_outputs);
            self.lm_head_rows(start..end)?;
            // Soft-capping is monotonic: the argmax of the raw logits is the same token.
            argmax::launch(self.k(), &mut self.sampled, &self.logits, c.n_vocab as i32, (end - start) as u32)?;
            let mut got = vec![0i32; end - start];
            self.gpu().synchronize(self.stream)?;
            self.sampled.download_at(0, &mut got)?;
            ids.extend(got.into_iter().map(|t| t as u32));
        }
        Ok(ids)
    }

    fn sample(&mut self, cfg: &SamplerConfig, draws: &[f32]) -> Result<Vec<u32>, BackendError> {
        check_output_rows(&(0..draws.len()), self.n_outputs)?;
        let n_vocab = self.cfg().n_vocab;
        // Soft-capping changes the distribution: the device kernels do not apply it.
        if !DeviceSampler::supports(cfg, n_vocab) || self.cfg().final_logit_softcap.is_some() {
            let logits = self.logits(0..draws.len())?;
            return Ok(logits.chunks_exact(n_vocab).zip(draws).map(|(row, &r)| pick(row, cfg, r)).collect());
        }
        let mut ids = Vec::with_capacity(draws.len());
        for (start, chunk) in (0..draws.len()).step_by(UBATCH).zip(draws.chunks(UBATCH)) {
            self.lm_head_rows(start..start + chunk.len())?;
            self.sampler.set_draws(chunk)?;
            self.sampler.enqueue(self.k(), &mut self.sampled, &self.logits, cfg, chunk.len() as u32)?;
            let mut got = vec![0i32; chunk.len()];
            self.gpu().synchronize(self.stream)?;
            self.sampled.download_at(0, &mut got)?;
            ids.extend(got.into_iter().map(|t| t as u32));
        }
        Ok(ids)
    }

    fn seq_len(&self, seq: usize) -> usize {
        self.seq_len[seq]
    }

    fn truncate(&mut self, seq: usize, len: usize) {
        self.seq_len[seq] = self.seq_len[seq].min(len);
    }

    fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    fn describe(&self) -> String {
        self.gpu().describe()
    }
}

impl Ops for GpuExecutor<'_> {
    fn embed(&mut self, out: Act) -> Result<(), BackendError> {
        self.wrote(&[out]);
        let (c, k, n) = (self.cfg(), self.k(), self.n());
        let table = &self.gpu_model.token_embd;
        let (cols, scale) = (c.n_embd as i32, c.embd_scale);
        let y = &mut self.acts[slot(out)];
        Ok(with_blocks!(&table.blocks, |b| embed::launch(k, y, b, &self.ids, cols, scale, n))?)
    }

    fn rmsnorm(&mut self, out: Act, x: Act, w: Weight, width: usize) -> Result<(), BackendError> {
        self.wrote(&[out]);
        let (eps, k, n) = (self.cfg().rms_eps, self.k(), self.n());
        let rows = n * (act_width(self.cfg(), x) / width) as u32;
        let w = self.gpu_model.vector(w);
        let [y, x] = self.acts.get_disjoint_mut([slot(out), slot(x)]).expect("an op's output is never its input");
        Ok(rmsnorm::launch(k, y, x, w, width as i32, eps, rows)?)
    }

    fn add_rmsnorm(&mut self, out: Act, h: Act, r: Act, w: Weight) -> Result<(), BackendError> {
        self.wrote(&[out, h]);
        let (c, k, n) = (self.cfg(), self.k(), self.n());
        let w = self.gpu_model.vector(w);
        let [y, hb, rb] = self.acts.get_disjoint_mut([slot(out), slot(h), slot(r)]).expect("three different buffers");
        rmsnorm_add::launch(k, y, &mut self.xq, hb, rb, w, c.n_embd as i32, c.rms_eps, n)?;
        // The norm's output comes quantized for the mat-vecs that read it next.
        self.xq_of = Some(out);
        Ok(())
    }

    fn matmul(&mut self, out: Act, w: Weight, x: Act) -> Result<(), BackendError> {
        self.wrote(&[out]);
        let m = self.gpu_model.matrix(w);
        self.project(out, m, x)
    }

    fn add_bias(&mut self, x: Act, bias: Weight) -> Result<(), BackendError> {
        self.wrote(&[x]);
        let (k, n) = (self.k(), self.n());
        let b = self.gpu_model.vector(bias);
        Ok(add_rows::launch(k, &mut self.acts[slot(x)], b, b.len() as i32, n)?)
    }

    fn rope_and_store(&mut self, il: usize, q: Act, kk: Act, v: Act) -> Result<(), BackendError> {
        self.wrote(&[q, kk]);
        let (c, k, n) = (self.cfg(), self.k(), self.n());
        let (base, scale) = c.rope_for_layer(il);
        let theta_scale = base.powf(-2.0 / c.rope.n_rot as f32);
        let mode = match c.rope.kind {
            RopeKind::Normal => rope_kv::Mode::Norm,
            RopeKind::Neox => rope_kv::Mode::Neox,
        };
        let factors = self.gpu_model.rope_freqs.as_ref();
        let (kc, vc) = &mut self.kv[il][self.run.seq];
        let [qb, kb, vb] = self.acts.get_disjoint_mut([slot(q), slot(kk), slot(v)]).expect("three different buffers");
        let (heads, heads_kv) = (c.n_head as i32, c.n_head_kv as i32);
        rope_kv::launch(
            k,
            mode,
            c.head_dim as u32,
            qb,
            kc,
            vc,
            kb,
            vb,
            &self.pos,
            factors,
            heads,
            heads_kv,
            c.rope.n_rot as i32,
            theta_scale,
            scale,
            (c.n_head + c.n_head_kv) as u32,
            n,
        )?;
        Ok(())
    }

    fn attention(&mut self, out: Act, il: usize, q: Act) -> Result<(), BackendError> {
        self.wrote(&[out]);
        let (c, k, n) = (self.cfg(), self.k(), self.n());
        let hd = c.head_dim as u32;
        let window = c.window_for_layer(il).unwrap_or(0) as i32;
        let (kc, vc) = &self.kv[il][self.run.seq];
        let (heads, heads_kv) = (c.n_head as i32, c.n_head_kv as i32);
        if n == 1 {
            let n_splits = self.n_ctx.div_ceil(SPLIT_LEN);
            attn_decode::launch(
                k,
                hd,
                &mut self.part_o,
                &mut self.part_ml,
                &self.acts[slot(q)],
                kc,
                vc,
                &self.pos,
                heads_kv,
                heads,
                window,
                c.attn_scale,
                SPLIT_LEN as i32,
                n_splits as u32,
            )?;
            let o = &mut self.acts[slot(out)];
            attn_decode_reduce::launch(k, hd, o, &self.part_o, &self.part_ml, n_splits as i32, c.n_head as u32)?;
        } else {
            let pos0 = self.run.pos0 as i32;
            let [o, qb] = self.acts.get_disjoint_mut([slot(out), slot(q)]).expect("two different buffers");
            attn_prefill::launch(k, hd, o, qb, kc, vc, n as i32, heads_kv, heads, pos0, window, c.attn_scale)?;
        }
        Ok(())
    }

    fn gated_ffn(&mut self, out: Act, il: usize, x: Act) -> Result<(), BackendError> {
        self.wrote(&[out, Act::Gate, Act::Up]);
        let (c, k, n) = (self.cfg(), self.k(), self.n());
        let l = &self.gpu_model.layers[il];
        let (rows, cols) = (l.ffn_gate.rows as i32, l.ffn_gate.cols as i32);
        let silu = c.activation == Activation::SwiGlu;
        if n == 1 {
            let act = if silu { matvec_glu::Act::Silu } else { matvec_glu::Act::Gelu };
            self.quantize(x, cols)?;
            let y = &mut self.acts[slot(out)];
            // The fused kernel needs gate and up in one format (a Q4_K_M file may mix them).
            let fused = with_blocks!(&l.ffn_gate.blocks, |gb| match same_format(gb, &l.ffn_up.blocks) {
                Some(ub) => {
                    matvec_glu::launch(k, act, y, gb, ub, &self.xq, cols, rows)?;
                    true
                }
                None => false,
            });
            if fused {
                return Ok(());
            }
        }
        self.project(Act::Gate, &l.ffn_gate, x)?;
        self.project(Act::Up, &l.ffn_up, x)?;
        let act = if silu { glu::Act::Silu } else { glu::Act::Gelu };
        let [y, g, u] = self.acts.get_disjoint_mut([slot(out), slot(Act::Gate), slot(Act::Up)]).expect("distinct");
        Ok(glu::launch(k, act, y, g, u, n as i32 * rows)?)
    }
}

/// The activations, in `Act` order.
const ACTS: [Act; N_ACTS] = [
    Act::X,
    Act::Xn,
    Act::Q,
    Act::K,
    Act::V,
    Act::QNormed,
    Act::KNormed,
    Act::Attn,
    Act::Proj,
    Act::Normed,
    Act::Gate,
    Act::Up,
    Act::Ffn,
];

fn slot(a: Act) -> usize {
    a as usize
}

/// Floats per token of activation `a`.
fn act_width(c: &ModelConfig, a: Act) -> usize {
    match a {
        Act::X | Act::Xn | Act::Proj | Act::Normed => c.n_embd,
        Act::Q | Act::QNormed | Act::Attn => c.q_dim(),
        Act::K | Act::V | Act::KNormed => c.kv_dim(),
        Act::Gate | Act::Up | Act::Ffn => c.n_ff,
    }
}

/// Elements of the largest weight matrix: every one has n_embd rows or columns.
fn largest_matrix(c: &ModelConfig) -> usize {
    c.n_embd * c.n_vocab.max(c.n_ff).max(c.q_dim())
}

/// Device bytes of the work buffers (activations, GEMM staging, logits), to within the small
/// ones.
fn scratch_bytes(c: &ModelConfig) -> u64 {
    let acts: usize = ACTS.iter().map(|&a| UBATCH * act_width(c, a)).sum();
    let max_cols = c.n_embd.max(c.n_ff).max(c.q_dim());
    (4 * acts + 2 * UBATCH * max_cols + 2 * largest_matrix(c) + 4 * UBATCH * c.n_vocab) as u64
}

//! The decoder graph on a GPU: `Ops` through the generated launchers, over activation buffers
//! allocated once for the largest batch, and a paged KV cache in device memory sized up front
//! (`backend::kv_blocks`: the sequences' block tables live on the device too). Only
//! token ids and positions go to the device per batch, and only sampled ids, or the logits a
//! caller asks for, come back. A batch is computed in passes of up to `UBATCH` tokens that may
//! hold several sequences' runs: the projections and the per-token ops take the whole pass at
//! once, the KV store and attention go run by run. A pass of one token of one sequence is
//! captured as a graph the first time and replayed after that (ids and positions are read from
//! device memory).

use std::ops::Range;
use std::rc::Rc;

use super::attention::{attention_groups, decode_attention, decode_max, decode_splits, DecodeAttention};
use super::kernels::DecoderKernels;
use super::kv_cache::GpuKvCache;
use super::projection::{Operands, SplitK, MATVEC_MAX_TOKENS};
use super::sampling::DeviceSampler;
use super::weights::{GpuMatrix, GpuModel};
use crate::backend::cpu::sample::{pick, SamplerConfig};
use crate::backend::gpu::launchers::{
    add_rows, argmax, attn_prefill, embed, glu, matvec_glu, rmsnorm, rmsnorm_add, rope_kv, with_blocks,
};
use crate::backend::gpu::{DeviceBuffer, Gpu, GraphHandle, StreamHandle, ViewMut};
use crate::backend::graph::{self, Act, Ops, Weight};
use crate::backend::{check_output_rows, clip_runs, BackendError, Batch, Executor, KvBlocks, Run};
use crate::model::{Model, ModelConfig};

/// Tokens computed in one pass; longer batches are cut into pieces of this size (llama.cpp's
/// default ubatch).
pub const UBATCH: usize = 512;
const N_ACTS: usize = 13;

pub struct GpuExecutor<'m> {
    model: &'m Model,
    gpu_model: &'m GpuModel,
    stream: StreamHandle,
    n_ctx: usize,
    kv: GpuKvCache,
    acts: Vec<DeviceBuffer<f32>>,
    ids: DeviceBuffer<i32>,
    pos: DeviceBuffer<i32>,
    /// The sequence of each token of the pass.
    seqs: DeviceBuffer<i32>,
    part_o: DeviceBuffer<f32>,
    part_ml: DeviceBuffer<f32>,
    /// The projections' inputs, converted once per activation.
    operands: Operands,
    /// Final-norm hidden states of the tokens that asked for logits.
    hidden: DeviceBuffer<f32>,
    n_outputs: usize,
    logits: DeviceBuffer<f32>,
    sampled: DeviceBuffer<i32>,
    sampler: DeviceSampler,
    /// The runs of the pass being computed (`start` counts from the pass's first token), and
    /// its token count (at most `UBATCH`).
    pass: Vec<Run>,
    pass_len: usize,
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
        let split_k = SplitK::sizes(&gpu_model.kernels, &gpu_model.launch.gemm, UBATCH, max_gemm_rows(c))?;
        let (free, _) = gpu.memory()?;
        let scratch = scratch_bytes(c) + 4 * (split_k.0 + split_k.1) as u64;
        let needed = GpuKvCache::bytes(c.n_layer, c.kv_dim(), n_seq, n_ctx).saturating_add(scratch);
        if needed > free {
            return Err(BackendError::OutOfMemory {
                what: format!("the GPU's KV cache of {n_ctx} positions × {n_seq} sequences and its work buffers"),
                needed,
                available: free,
            });
        }
        let kv = GpuKvCache::new(&gpu, c.n_layer, c.kv_dim(), n_seq, n_ctx)?;
        let f32s = |n: usize| DeviceBuffer::<f32>::uninit(&gpu, n);
        let acts = (0..N_ACTS).map(|i| f32s(UBATCH * act_width(c, ACTS[i]))).collect::<Result<Vec<_>, _>>()?;
        let n_splits = decode_splits(n_ctx, c.n_head, c.head_dim);
        let max_cols = c.n_embd.max(c.n_ff).max(c.q_dim());
        let stream = gpu.create_stream()?;
        Ok(GpuExecutor {
            model,
            gpu_model,
            stream,
            n_ctx,
            kv,
            acts,
            ids: DeviceBuffer::uninit(&gpu, UBATCH)?,
            pos: DeviceBuffer::uninit(&gpu, UBATCH)?,
            seqs: DeviceBuffer::uninit(&gpu, UBATCH)?,
            part_o: f32s(decode_max(n_seq) * c.n_head * n_splits * c.head_dim)?,
            part_ml: f32s(decode_max(n_seq) * c.n_head * n_splits * 2)?,
            operands: Operands::new(&gpu, UBATCH, max_cols, largest_matrix(c), SplitK::new(&gpu, split_k)?)?,
            hidden: f32s(c.n_embd)?,
            n_outputs: 0,
            logits: f32s(UBATCH * c.n_vocab)?,
            sampled: DeviceBuffer::uninit(&gpu, UBATCH)?,
            sampler: DeviceSampler::new(&gpu_model.kernels, c.n_vocab, UBATCH)?,
            pass: Vec::new(),
            pass_len: 0,
            decode_graphs: vec![None; n_seq],
        })
    }

    fn kern(&self) -> &'m DecoderKernels {
        &self.gpu_model.launch
    }

    fn gpu(&self) -> &Rc<dyn Gpu> {
        self.gpu_model.kernels.gpu()
    }

    fn cfg(&self) -> &'m ModelConfig {
        &self.model.config
    }

    fn n(&self) -> u32 {
        self.pass_len as u32
    }

    /// Computes batch tokens `window` (runs clipped to it) through the graph (captured as a
    /// graph for one token of one sequence), then gathers the hidden states of its tokens that
    /// want logits into `hidden`.
    fn forward_pass(&mut self, batch: &Batch, runs: &[Run], window: Range<usize>) -> Result<(), BackendError> {
        let toks = &batch.tokens()[window.clone()];
        let ids: Vec<i32> = toks.iter().map(|t| t.token as i32).collect();
        let pos: Vec<i32> = toks.iter().map(|t| t.pos as i32).collect();
        self.ids.upload_at(0, &ids)?;
        self.pos.upload_at(0, &pos)?;
        let seqs: Vec<i32> = toks.iter().map(|t| t.seq as i32).collect();
        self.seqs.upload_at(0, &seqs)?;
        self.pass = clip_runs(runs, &window);
        self.pass_len = window.len();
        self.operands.forget();
        match self.pass[..] {
            [run] if run.len == 1 => self.replay_decode(run.seq)?,
            _ => graph::forward(self, &self.model.config, &self.model.weights)?,
        }
        let embd = self.cfg().n_embd;
        for (i, _) in toks.iter().enumerate().filter(|(_, t)| t.logits) {
            let at = self.n_outputs * embd;
            self.hidden.copy_from(self.stream, at, &self.acts[slot(Act::Xn)], i * embd, embd)?;
            self.n_outputs += 1;
        }
        Ok(())
    }

    /// One token of sequence `seq`: its graph, captured on first use.
    fn replay_decode(&mut self, seq: usize) -> Result<(), BackendError> {
        let graph = match self.decode_graphs[seq] {
            Some(g) => g,
            None => {
                let (gpu, model) = (Rc::clone(self.gpu()), self.model);
                gpu.begin_capture(self.stream)?;
                let recorded = graph::forward(self, &model.config, &model.weights);
                let g = gpu.end_capture(self.stream)?;
                if let Err(e) = recorded {
                    let _ = gpu.destroy_graph(g);
                    return Err(e);
                }
                self.decode_graphs[seq] = Some(g);
                g
            }
        };
        Ok(self.gpu().launch_graph(graph, self.stream)?)
    }

    /// out = x Wᵀ for the pass's tokens.
    fn project(&mut self, out: Act, w: &GpuMatrix, x: Act) -> Result<(), BackendError> {
        let (kern, s, n) = (self.kern(), self.stream, self.n() as usize);
        let [y, xb] = self.acts.get_disjoint_mut([slot(out), slot(x)]).expect("an op's output is never its input");
        Ok(self.operands.project(kern, s, y, w, (x, xb.view()), n)?)
    }

    /// The pass's tokens of `x` times two or three matrices of one input in one launch, where
    /// a kernel takes them (`Operands::project_together`); false when none did.
    fn project_together(&mut self, group: &mut [(Act, &GpuMatrix)], x: Act) -> Result<bool, BackendError> {
        let (kern, s, n) = (self.kern(), self.stream, self.n() as usize);
        if group.iter().any(|&(_, m)| m.cols != group[0].1.cols) {
            return Ok(false); // not projections of one input
        }
        group.sort_by_key(|&(_, m)| std::cmp::Reverse(m.rows)); // the largest sizes matvec_multi's grid
                                                                // x's buffer, and the outputs in the group's order, n tokens of its matrix's rows each.
        let slots: Vec<usize> = group.iter().map(|&(out, _)| slot(out)).collect();
        let mut bufs: Vec<(usize, &mut DeviceBuffer<f32>)> =
            self.acts.iter_mut().enumerate().filter(|(i, _)| slots.contains(i) || *i == slot(x)).collect();
        let xb = bufs.iter().position(|(i, _)| *i == slot(x)).map(|at| bufs.remove(at).1).expect("x is an activation");
        bufs.sort_by_key(|(i, _)| slots.iter().position(|s| s == i));
        let mut ys = bufs.into_iter().zip(group.iter()).map(|((_, y), (_, m))| y.slice_mut(0..n * m.rows));
        let y_a = ys.next().expect("a group has a first matrix");
        let (y_b, y_c) = (ys.next().unwrap_or_else(ViewMut::empty), ys.next().unwrap_or_else(ViewMut::empty));
        let ws: Vec<&GpuMatrix> = group.iter().map(|&(_, m)| m).collect();
        Ok(self.operands.project_together(kern, s, [y_a, y_b, y_c], &ws, (x, xb.view()), n)?)
    }

    /// Logits of output rows `rows` (at most `UBATCH`) into `logits`, from `hidden`.
    fn lm_head_rows(&mut self, rows: Range<usize>) -> Result<(), BackendError> {
        let (c, kern, s) = (self.cfg(), self.kern(), self.stream);
        let head = self.gpu_model.lm_head();
        let x = Act::Xn; // free once the forward pass is done
        self.acts[slot(x)].copy_from(s, 0, &self.hidden, rows.start * c.n_embd, rows.len() * c.n_embd)?;
        self.operands.forget();
        Ok(self.operands.project(kern, s, &mut self.logits, head, (x, self.acts[slot(x)].view()), rows.len())?)
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
        let _ = self.gpu().destroy_stream(self.stream);
    }
}

impl Executor for GpuExecutor<'_> {
    fn forward(&mut self, batch: &Batch) -> Result<(), BackendError> {
        let (c, blocks) = (self.cfg(), self.kv.blocks());
        let runs = batch.runs(blocks.n_seq(), self.n_ctx, c.n_vocab, |s| blocks.len(s))?;
        for run in &runs {
            self.kv.make_room(self.stream, run)?;
        }
        self.kv.upload_tables()?;
        self.grow_hidden(batch.logit_rows().len())?;
        self.n_outputs = 0;
        for start in (0..batch.len()).step_by(UBATCH) {
            let window = start..(start + UBATCH).min(batch.len());
            self.forward_pass(batch, &runs, window)?;
            for run in &self.pass {
                self.kv.blocks_mut().commit(run.seq, run.pos0 + run.len);
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
        let (c, kern) = (self.cfg(), self.kern());
        let mut ids = Vec::with_capacity(self.n_outputs);
        for start in (0..self.n_outputs).step_by(UBATCH) {
            let end = (start + UBATCH).min(self.n_outputs);
            self.lm_head_rows(start..end)?;
            // Soft-capping is monotonic: the argmax of the raw logits is the same token.
            let args = argmax::Args {
                out: self.sampled.view_mut(),
                x: self.logits.view(),
                n: c.n_vocab as i32,
                n_rows: (end - start) as u32,
            };
            kern.argmax.launch(self.stream, args)?;
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
            self.sampler.enqueue(self.stream, &mut self.sampled, &self.logits, cfg, chunk.len() as u32)?;
            let mut got = vec![0i32; chunk.len()];
            self.gpu().synchronize(self.stream)?;
            self.sampled.download_at(0, &mut got)?;
            ids.extend(got.into_iter().map(|t| t as u32));
        }
        Ok(ids)
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
        self.n_ctx
    }

    fn describe(&self) -> String {
        self.gpu().describe()
    }
}

impl Ops for GpuExecutor<'_> {
    fn embed(&mut self, out: Act) -> Result<(), BackendError> {
        self.operands.wrote(&[out]);
        let (c, kern, s, n) = (self.cfg(), self.kern(), self.stream, self.n());
        let table = &self.gpu_model.token_embd;
        let (y, ids) = (self.acts[slot(out)].view_mut(), self.ids.view());
        let (n_cols, n_vocab, scale) = (c.n_embd as i32, table.rows as i32, c.embd_scale);
        Ok(with_blocks!(&table.blocks, |b| {
            let args = embed::Args { out: y, w: b.view(), ids, n_cols, n_vocab, scale, n_tokens: n };
            kern.embed.get()?.launch(s, args)
        })?)
    }

    fn rmsnorm(&mut self, out: Act, x: Act, w: Weight, width: usize) -> Result<(), BackendError> {
        self.operands.wrote(&[out]);
        let (eps, kern, n) = (self.cfg().rms_eps, self.kern(), self.n());
        let n_rows = n * (act_width(self.cfg(), x) / width) as u32;
        let w = self.gpu_model.vector(w).view();
        let [y, x] = self.acts.get_disjoint_mut([slot(out), slot(x)]).expect("an op's output is never its input");
        let args = rmsnorm::Args { y: y.view_mut(), x: x.view(), w, n: width as i32, eps, n_rows };
        Ok(kern.rmsnorm.launch(self.stream, args)?)
    }

    fn add_rmsnorm(&mut self, out: Act, h: Act, r: Act, w: Weight) -> Result<(), BackendError> {
        self.operands.wrote(&[out, h]);
        let (c, kern, n) = (self.cfg(), self.kern(), self.n());
        let w = self.gpu_model.vector(w).view();
        let [y, hb, rb] = self.acts.get_disjoint_mut([slot(out), slot(h), slot(r)]).expect("three different buffers");
        let args = rmsnorm_add::Args {
            y: y.view_mut(),
            xq: self.operands.xq.view_mut(),
            h: hb.view_mut(),
            r: rb.view(),
            w,
            n: c.n_embd as i32,
            eps: c.rms_eps,
            n_rows: n,
        };
        kern.rmsnorm_add.launch(self.stream, args)?;
        // The norm's output comes quantized for the mat-vecs that read it next.
        self.operands.quantized(out, n as usize);
        Ok(())
    }

    fn matmul(&mut self, out: Act, w: Weight, x: Act) -> Result<(), BackendError> {
        self.operands.wrote(&[out]);
        let m = self.gpu_model.matrix(w);
        self.project(out, m, x)
    }

    /// The matrices go in one launch where a kernel takes them together (Q, K and V): all of
    /// them in a prompt's GEMM, those of one format in a token's mat-vec (a Q4_K_M file may keep
    /// V in another); otherwise each is projected alone.
    fn matmuls(&mut self, projections: &[(Act, Weight)], x: Act) -> Result<(), BackendError> {
        let outs: Vec<Act> = projections.iter().map(|&(out, _)| out).collect();
        self.operands.wrote(&outs);
        let mut rest: Vec<(Act, &GpuMatrix)> =
            projections.iter().map(|&(out, w)| (out, self.gpu_model.matrix(w))).collect();
        // The mat-vecs read one format; the GEMM dequantizes each matrix, whatever its format.
        let one_format = self.n() as usize <= MATVEC_MAX_TOKENS;
        while let Some(&(_, first)) = rest.first() {
            let quant = first.blocks.quant();
            let mut group: Vec<_> = rest.extract_if(.., |(_, m)| !one_format || m.blocks.quant() == quant).collect();
            if (2..=3).contains(&group.len()) && self.project_together(&mut group, x)? {
                continue;
            }
            for (out, m) in group {
                self.project(out, m, x)?;
            }
        }
        Ok(())
    }

    fn add_bias(&mut self, x: Act, bias: Weight) -> Result<(), BackendError> {
        self.operands.wrote(&[x]);
        let (kern, n) = (self.kern(), self.n());
        let b = self.gpu_model.vector(bias);
        let args = add_rows::Args { x: self.acts[slot(x)].view_mut(), b: b.view(), n: b.len() as i32, n_tokens: n };
        Ok(kern.add_rows.launch(self.stream, args)?)
    }

    fn rope_and_store(&mut self, il: usize, q: Act, k: Act, v: Act) -> Result<(), BackendError> {
        self.operands.wrote(&[q, k]);
        let (c, kern, n) = (self.cfg(), self.kern(), self.n());
        let (base, freq_scale) = c.rope_for_layer(il);
        let g = self.kv.geometry();
        let (kc, vc, kv_tables) = self.kv.layer_mut(il);
        let [qb, kb, vb] = self.acts.get_disjoint_mut([slot(q), slot(k), slot(v)]).expect("three different buffers");
        let args = rope_kv::Args {
            q: qb.view_mut(),
            k_cache: kc.view_mut(),
            v_cache: vc.view_mut(),
            kv_tables: kv_tables.view(),
            k: kb.view(),
            v: vb.view(),
            pos: self.pos.view(),
            seq: self.seqs.view(),
            factors: self.gpu_model.rope_freqs.as_ref().map(DeviceBuffer::view),
            n_head: c.n_head as i32,
            n_head_kv: c.n_head_kv as i32,
            n_rot: c.rope.n_rot as i32,
            n_ctx: self.n_ctx as i32,
            kv_rows: g.kv_rows,
            n_seq: g.n_seq,
            table_stride: g.table_stride,
            theta_scale: base.powf(-2.0 / c.rope.n_rot as f32),
            freq_scale,
            n_heads_all: (c.n_head + c.n_head_kv) as u32,
            n_tokens: n,
        };
        Ok(kern.rope_kv.launch(self.stream, args)?)
    }

    fn attention(&mut self, out: Act, il: usize, q: Act) -> Result<(), BackendError> {
        self.operands.wrote(&[out]);
        let (c, kern, s) = (self.cfg(), self.kern(), self.stream);
        let window = c.window_for_layer(il).unwrap_or(0) as i32;
        let (n_head, n_head_kv, q_dim) = (c.n_head as i32, c.n_head_kv as i32, c.q_dim());
        let g = self.kv.geometry();
        let stride = g.table_stride as usize;
        let groups = attention_groups(&self.pass, decode_max(g.n_seq as usize));
        for group in &groups {
            let (kc, vc) = self.kv.layer(il);
            let [o, qb] = self.acts.get_disjoint_mut([slot(out), slot(q)]).expect("two different buffers");
            let rows = group.start * q_dim..(group.start + group.len) * q_dim;
            if group.decode {
                // One token each of `group.len` sequences: one launch pair for them all.
                let tokens = group.start..group.start + group.len;
                let args = DecodeAttention {
                    out: o.slice_mut(rows.clone()),
                    xq: self.operands.xq.slice_mut(rows.start / 32..rows.end / 32),
                    part_o: &mut self.part_o,
                    part_ml: &mut self.part_ml,
                    q: qb.slice(rows),
                    k_cache: kc.view(),
                    v_cache: vc.view(),
                    kv_tables: self.kv.tables().view(),
                    kv_rows: g.kv_rows as usize,
                    q_pos: self.pos.slice(tokens.clone()),
                    q_seq: self.seqs.slice(tokens),
                    n_seq: g.n_seq as usize,
                    table_stride: stride,
                    n_head: c.n_head,
                    n_head_kv: c.n_head_kv,
                    window,
                    scale: c.attn_scale,
                    n_ctx: self.n_ctx,
                    n_splits: decode_splits(self.n_ctx, c.n_head, c.head_dim),
                };
                decode_attention(&kern.attn_decode, &kern.attn_reduce, s, args)?;
            } else {
                let args = attn_prefill::Args {
                    out: o.slice_mut(rows.clone()),
                    q: qb.slice(rows),
                    k_cache: kc.view(),
                    v_cache: vc.view(),
                    kv_table: self.kv.tables().slice(group.seq * stride..(group.seq + 1) * stride),
                    n_tokens: group.len as i32,
                    n_head_kv,
                    n_head,
                    pos0: group.pos0 as i32,
                    window,
                    scale: c.attn_scale,
                    kv_rows: g.kv_rows,
                };
                kern.attn_prefill.launch(s, args)?;
            }
        }
        // Decode attention wrote its output quantized too, over whatever xq held.
        if groups.iter().all(|g| g.decode) {
            self.operands.quantized(out, self.pass_len);
        } else if groups.iter().any(|g| g.decode) {
            self.operands.forget();
        }
        Ok(())
    }

    fn gated_ffn(&mut self, out: Act, il: usize, x: Act) -> Result<(), BackendError> {
        self.operands.wrote(&[out, Act::Gate, Act::Up]);
        let (kern, s, n) = (self.kern(), self.stream, self.n());
        let l = &self.gpu_model.layers[il];
        let (n_rows, n_cols) = (l.ffn_gate.rows as i32, l.ffn_gate.cols as i32);
        if n == 1 {
            self.operands.quantize(kern, s, (x, self.acts[slot(x)].view()), l.ffn_gate.cols, 1)?;
            let y = self.acts[slot(out)].view_mut();
            // The fused kernel needs gate and up in one format (a Q4_K_M file may mix them).
            let fused = with_blocks!(&l.ffn_gate.blocks, |gate| match (
                l.ffn_up.blocks.typed(),
                kern.matvec_glu.for_matrix(l.ffn_gate.shape()).get()
            ) {
                (Some(up), Ok(fused)) => {
                    let xq = self.operands.xq.view();
                    fused
                        .launch(s, matvec_glu::Args { y, w_gate: gate.view(), w_up: up.view(), xq, n_cols, n_rows })?;
                    true
                }
                _ => false,
            });
            if fused {
                return Ok(());
            }
        }
        self.project(Act::Gate, &l.ffn_gate, x)?;
        self.project(Act::Up, &l.ffn_up, x)?;
        let [y, g, u] = self.acts.get_disjoint_mut([slot(out), slot(Act::Gate), slot(Act::Up)]).expect("distinct");
        let args = glu::Args { out: y.view_mut(), gate: g.view(), up: u.view(), n: n as i32 * n_rows };
        Ok(kern.glu.launch(s, args)?)
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

/// The most weight rows a GEMM takes: the LM head's, the FFN's, or Q, K and V together.
fn max_gemm_rows(c: &ModelConfig) -> usize {
    c.n_vocab.max(c.n_ff).max(c.q_dim() + 2 * c.kv_dim())
}

/// Device bytes of the work buffers (activations, GEMM staging, logits), to within the small
/// ones.
fn scratch_bytes(c: &ModelConfig) -> u64 {
    let acts: usize = ACTS.iter().map(|&a| UBATCH * act_width(c, a)).sum();
    let max_cols = c.n_embd.max(c.n_ff).max(c.q_dim());
    (4 * acts + 2 * UBATCH * max_cols + 2 * largest_matrix(c) + 4 * UBATCH * c.n_vocab) as u64
}

//! The decoder forward pass on the CPU: llama / qwen2 / gemma3 from one layer function whose
//! architecture differences are the optional tensors and flags of `ModelConfig`.

use super::attention::{attention, AttentionShape};
use super::kv_cache::KvCache;
use super::matmul::{matmul, MatmulScratch, QMatrix};
use super::{ops, vec};
use crate::backend::BackendError;
use crate::model::{Activation, Matrix, Model};

/// Runs a model on the CPU for one sequence, keeping its KV cache.
pub struct CpuExecutor<'m> {
    model: &'m Model,
    kv: KvCache,
    mm: MatmulScratch,
}

/// Activations of one batch, `n` tokens each row.
struct Batch {
    n: usize,
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    proj: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
}

impl<'m> CpuExecutor<'m> {
    pub fn new(model: &'m Model, n_ctx: usize) -> Self {
        let c = &model.config;
        CpuExecutor { model, kv: KvCache::new(c.n_layer, n_ctx, c.kv_dim()), mm: MatmulScratch::default() }
    }

    pub fn kv_cache(&self) -> &KvCache {
        &self.kv
    }

    /// Forgets the sequence from position `len` on.
    pub fn rewind(&mut self, len: usize) {
        self.kv.truncate(len);
    }

    /// Appends `tokens` to the sequence and returns the final-norm hidden states of
    /// `tokens[out_from..]` (`n_embd` each), ready for `lm_head`.
    pub fn forward(&mut self, tokens: &[u32], out_from: usize) -> Result<Vec<f32>, BackendError> {
        let c = &self.model.config;
        let pos0 = self.kv.len();
        if pos0 + tokens.len() > self.kv.n_ctx() {
            return Err(BackendError::ContextFull { n_ctx: self.kv.n_ctx(), needed: pos0 + tokens.len() });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(BackendError::BadToken { token: bad, n_vocab: c.n_vocab });
        }
        let mut b = self.embed(tokens)?;
        for il in 0..c.n_layer {
            self.layer(il, pos0, &mut b)?;
        }
        self.kv.commit(pos0 + tokens.len());

        let (embd, out_from) = (c.n_embd, out_from.min(tokens.len()));
        let mut hidden = b.x.split_off(out_from * embd);
        for row in hidden.chunks_exact_mut(embd) {
            ops::rmsnorm_in_place(row, &self.model.weights.output_norm, c.rms_eps);
        }
        Ok(hidden)
    }

    /// Logits (`n_vocab` per row) for hidden states from `forward`.
    pub fn lm_head(&mut self, hidden: &[f32]) -> Result<Vec<f32>, BackendError> {
        let c = &self.model.config;
        let n = hidden.len() / c.n_embd;
        let mut logits = vec![0.0; n * c.n_vocab];
        self.matmul(&self.model.weights.output, hidden, n, &mut logits)?;
        if let Some(cap) = c.final_logit_softcap {
            ops::softcap(&mut logits, cap);
        }
        Ok(logits)
    }

    /// Appends `tokens` and returns the logits after the last one.
    pub fn forward_last(&mut self, tokens: &[u32]) -> Result<Vec<f32>, BackendError> {
        let hidden = self.forward(tokens, tokens.len().saturating_sub(1))?;
        self.lm_head(&hidden)
    }

    fn embed(&self, tokens: &[u32]) -> Result<Batch, BackendError> {
        let c = &self.model.config;
        let n = tokens.len();
        let e = &self.model.weights.token_embd;
        let data = self.model.data(e);
        let row_bytes = data.len() / e.rows;
        let mut x = vec![0.0; n * c.n_embd];
        for (row, &t) in x.chunks_exact_mut(c.n_embd).zip(tokens) {
            let t = t as usize;
            crate::quant::dequantize_row(e.ty, &data[t * row_bytes..(t + 1) * row_bytes], row)?;
            if c.embd_scale != 1.0 {
                vec::scale(row, c.embd_scale);
            }
        }
        let z = |d: usize| vec![0.0; n * d];
        Ok(Batch {
            n,
            x,
            xn: z(c.n_embd),
            q: z(c.q_dim()),
            k: z(c.kv_dim()),
            v: z(c.kv_dim()),
            attn: z(c.q_dim()),
            proj: z(c.n_embd),
            gate: z(c.n_ff),
            up: z(c.n_ff),
        })
    }

    fn matmul(&mut self, m: &Matrix, x: &[f32], n: usize, out: &mut [f32]) -> Result<(), BackendError> {
        let w = QMatrix { ty: m.ty, data: self.model.data(m), rows: m.rows, cols: m.cols };
        matmul(w, x, n, out, &mut self.mm).map_err(BackendError::from)
    }

    fn layer(&mut self, il: usize, pos0: usize, b: &mut Batch) -> Result<(), BackendError> {
        let model = self.model;
        let (c, lw) = (&model.config, &model.weights.layers[il]);
        let (n, embd, hd) = (b.n, c.n_embd, c.head_dim);

        for (xn, x) in b.xn.chunks_exact_mut(embd).zip(b.x.chunks_exact(embd)) {
            ops::rmsnorm(xn, x, &lw.attn_norm, c.rms_eps);
        }
        self.matmul(&lw.wq, &b.xn, n, &mut b.q)?;
        self.matmul(&lw.wk, &b.xn, n, &mut b.k)?;
        self.matmul(&lw.wv, &b.xn, n, &mut b.v)?;
        for (bias, out) in [(&lw.bq, &mut b.q), (&lw.bk, &mut b.k), (&lw.bv, &mut b.v)] {
            if let Some(bias) = bias {
                out.chunks_exact_mut(bias.len()).for_each(|row| vec::add_assign(row, bias));
            }
        }
        if let (Some(qn), Some(kn)) = (&lw.q_norm, &lw.k_norm) {
            b.q.chunks_exact_mut(hd).for_each(|h| ops::rmsnorm_in_place(h, qn, c.rms_eps));
            b.k.chunks_exact_mut(hd).for_each(|h| ops::rmsnorm_in_place(h, kn, c.rms_eps));
        }
        self.apply_rope(il, pos0, b);

        self.kv.store(il, pos0, &b.k, &b.v);
        let (keys, values) = self.kv.layer(il);
        let shape = AttentionShape {
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: hd,
            window: c.window_for_layer(il),
            scale: 1.0,
        };
        attention(&b.q, keys, values, pos0, &shape, &mut b.attn);
        self.matmul(&lw.wo, &b.attn, n, &mut b.proj)?;
        self.residual(&mut b.x, &mut b.proj, lw.attn_post_norm.as_deref());

        for (xn, x) in b.xn.chunks_exact_mut(embd).zip(b.x.chunks_exact(embd)) {
            ops::rmsnorm(xn, x, &lw.ffn_norm, c.rms_eps);
        }
        self.matmul(&lw.ffn_gate, &b.xn, n, &mut b.gate)?;
        self.matmul(&lw.ffn_up, &b.xn, n, &mut b.up)?;
        match c.activation {
            Activation::GeGlu => ops::geglu(&mut b.gate, &b.up),
            Activation::SwiGlu => ops::swiglu(&mut b.gate, &b.up),
        }
        self.matmul(&lw.ffn_down, &b.gate, n, &mut b.proj)?;
        self.residual(&mut b.x, &mut b.proj, lw.ffn_post_norm.as_deref());
        Ok(())
    }

    /// Q/K rotation; Q also takes the attention scale here, as in llama.cpp's graphs.
    fn apply_rope(&self, il: usize, pos0: usize, b: &mut Batch) {
        let c = &self.model.config;
        let (base, scale) = c.rope_for_layer(il);
        let factors = self.model.weights.rope_freqs.as_deref();
        let hd = c.head_dim;
        for t in 0..b.n {
            let angles = ops::rope_angles(pos0 + t, c.rope.n_rot, base, scale, factors);
            for h in b.q[t * c.q_dim()..(t + 1) * c.q_dim()].chunks_exact_mut(hd) {
                ops::rope(h, &angles, c.rope.kind);
                vec::scale(h, c.attn_scale);
            }
            for h in b.k[t * c.kv_dim()..(t + 1) * c.kv_dim()].chunks_exact_mut(hd) {
                ops::rope(h, &angles, c.rope.kind);
            }
        }
    }

    /// x += post_norm(y) (or x += y without a post-norm).
    fn residual(&self, x: &mut [f32], y: &mut [f32], post_norm: Option<&[f32]>) {
        let c = &self.model.config;
        if let Some(w) = post_norm {
            y.chunks_exact_mut(c.n_embd).for_each(|row| ops::rmsnorm_in_place(row, w, c.rms_eps));
        }
        vec::add_assign(x, y);
    }
}

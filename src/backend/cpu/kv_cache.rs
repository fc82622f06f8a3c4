//! The KV cache of one sequence: per layer, keys and values as f16 rows of `kv_dim`, indexed
//! by position (the layout and precision llama.cpp uses by default).

use half::f16;

pub struct KvCache {
    n_ctx: usize,
    kv_dim: usize,
    keys: Vec<Vec<f16>>,
    values: Vec<Vec<f16>>,
    len: usize,
}

impl KvCache {
    pub fn new(n_layer: usize, n_ctx: usize, kv_dim: usize) -> Self {
        KvCache {
            n_ctx,
            kv_dim,
            keys: (0..n_layer).map(|_| vec![f16::ZERO; n_ctx * kv_dim]).collect(),
            values: (0..n_layer).map(|_| vec![f16::ZERO; n_ctx * kv_dim]).collect(),
            len: 0,
        }
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Positions filled so far; the next token goes at this position.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets positions from `len` on (a new prompt, or a rewind).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub fn bytes(&self) -> usize {
        2 * self.keys.len() * self.n_ctx * self.kv_dim * std::mem::size_of::<f16>()
    }

    /// Stores K and V rows (f32, `n × kv_dim`) of layer `il` at positions `pos0..pos0+n`.
    pub fn store(&mut self, il: usize, pos0: usize, k: &[f32], v: &[f32]) {
        let start = pos0 * self.kv_dim;
        super::vec::to_f16(&mut self.keys[il][start..start + k.len()], k);
        super::vec::to_f16(&mut self.values[il][start..start + v.len()], v);
    }

    /// Marks positions up to `len` as filled once every layer has stored them.
    pub fn commit(&mut self, len: usize) {
        self.len = len;
    }

    pub fn layer(&self, il: usize) -> (&[f16], &[f16]) {
        (&self.keys[il], &self.values[il])
    }

    pub fn kv_dim(&self) -> usize {
        self.kv_dim
    }
}

//! The KV cache of one sequence: per layer, keys and values as f16 rows of `kv_dim`, indexed
//! by position (the layout and precision llama.cpp uses by default).

use half::f16;

use crate::backend::BackendError;

pub struct KvCache {
    n_ctx: usize,
    kv_dim: usize,
    keys: Vec<Vec<f16>>,
    values: Vec<Vec<f16>>,
    len: usize,
}

impl KvCache {
    /// A cache for `n_ctx` positions, or an error naming the bytes it needs when the machine
    /// does not have them (rather than an abort, or the out-of-memory killer).
    pub fn new(n_layer: usize, n_ctx: usize, kv_dim: usize) -> Result<Self, BackendError> {
        let layer_elems = n_ctx.checked_mul(kv_dim).ok_or(BackendError::OutOfMemory {
            what: "the KV cache".into(),
            needed: u64::MAX,
            available: available_memory(),
        })?;
        let needed = (2 * n_layer as u64).saturating_mul(layer_elems as u64 * size_of::<f16>() as u64);
        let available = available_memory();
        if needed > available {
            return Err(BackendError::OutOfMemory {
                what: format!("the KV cache of {n_ctx} positions"),
                needed,
                available,
            });
        }
        let zeroed = || -> Result<Vec<f16>, BackendError> {
            let mut v = Vec::new();
            v.try_reserve_exact(layer_elems).map_err(|_| BackendError::OutOfMemory {
                what: format!("the KV cache of {n_ctx} positions"),
                needed,
                available,
            })?;
            v.resize(layer_elems, f16::ZERO);
            Ok(v)
        };
        Ok(KvCache {
            n_ctx,
            kv_dim,
            keys: (0..n_layer).map(|_| zeroed()).collect::<Result<_, _>>()?,
            values: (0..n_layer).map(|_| zeroed()).collect::<Result<_, _>>()?,
            len: 0,
        })
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

/// Memory the OS says it can still give (Linux `MemAvailable`); unlimited where unknown.
pub fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb * 1024)
}

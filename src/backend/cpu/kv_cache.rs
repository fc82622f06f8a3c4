//! The CPU's paged KV cache: per layer, one pool of blocks of keys and one of values, f16 rows
//! of `kv_dim` (the precision llama.cpp uses by default), shared by all sequences through the
//! block tables of `KvBlocks`.

use half::f16;

use crate::backend::kv_blocks::{row_of, KvBlocks, KV_BLOCK};
use crate::backend::BackendError;

pub struct KvCache {
    n_ctx: usize,
    kv_dim: usize,
    keys: Vec<Vec<f16>>,
    values: Vec<Vec<f16>>,
    blocks: KvBlocks,
}

/// One layer's keys and values as a sequence sees them: position p's row through its table.
#[derive(Clone, Copy)]
pub struct KvRows<'a> {
    pub keys: &'a [f16],
    pub values: &'a [f16],
    pub table: &'a [u32],
    pub kv_dim: usize,
}

impl<'a> KvRows<'a> {
    fn at(&self, p: usize) -> std::ops::Range<usize> {
        let row = row_of(self.table, p);
        row * self.kv_dim..(row + 1) * self.kv_dim
    }

    pub fn key(&self, p: usize) -> &'a [f16] {
        &self.keys[self.at(p)]
    }

    pub fn value(&self, p: usize) -> &'a [f16] {
        &self.values[self.at(p)]
    }
}

impl KvCache {
    /// A pool for `n_seq` sequences of `n_ctx` positions, or an error naming the bytes it needs
    /// when the machine does not have them (rather than an abort, or the out-of-memory killer).
    pub fn new(n_layer: usize, n_ctx: usize, kv_dim: usize, n_seq: usize) -> Result<Self, BackendError> {
        let what = || format!("the KV cache of {n_ctx} positions × {n_seq} sequences");
        let available = available_memory();
        let layer_elems = KvBlocks::pool_blocks(n_seq, n_ctx)
            .and_then(|b| b.checked_mul(KV_BLOCK * kv_dim))
            .ok_or(BackendError::OutOfMemory { what: what(), needed: u64::MAX, available })?;
        let needed = (2 * n_layer as u64).saturating_mul(layer_elems as u64 * size_of::<f16>() as u64);
        if needed > available {
            return Err(BackendError::OutOfMemory { what: what(), needed, available });
        }
        let zeroed = || -> Result<Vec<f16>, BackendError> {
            let mut v = Vec::new();
            v.try_reserve_exact(layer_elems).map_err(|_| BackendError::OutOfMemory {
                what: what(),
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
            blocks: KvBlocks::new(n_seq, n_ctx),
        })
    }

    /// Positions each sequence can hold.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    pub fn blocks(&self) -> &KvBlocks {
        &self.blocks
    }

    pub fn blocks_mut(&mut self) -> &mut KvBlocks {
        &mut self.blocks
    }

    /// Makes room for `n` positions of `seq` from `pos0` on in every layer (copying the blocks
    /// it shared there).
    pub fn prepare(&mut self, seq: usize, pos0: usize, n: usize) -> Result<(), BackendError> {
        let block_elems = KV_BLOCK * self.kv_dim;
        for c in self.blocks.prepare(seq, pos0, n)? {
            let (from, to) = (c.from as usize * block_elems, c.to as usize * block_elems);
            for layer in self.keys.iter_mut().chain(&mut self.values) {
                layer.copy_within(from..from + block_elems, to);
            }
        }
        Ok(())
    }

    /// Stores K and V rows (f32, `n × kv_dim`) of layer `il` at positions `pos0..pos0+n` of
    /// `seq`, which `prepare` made room for.
    pub fn store(&mut self, il: usize, seq: usize, pos0: usize, k: &[f32], v: &[f32]) {
        let table = self.blocks.table(seq);
        let kv_dim = self.kv_dim;
        let n = k.len() / kv_dim;
        // A run of positions is contiguous within a block: store block piece by block piece.
        let mut t = 0;
        while t < n {
            let p = pos0 + t;
            let take = (KV_BLOCK - p % KV_BLOCK).min(n - t);
            let row = row_of(table, p);
            let (dst, src) = (row * kv_dim..(row + take) * kv_dim, t * kv_dim..(t + take) * kv_dim);
            super::vec::to_f16(&mut self.keys[il][dst.clone()], &k[src.clone()]);
            super::vec::to_f16(&mut self.values[il][dst], &v[src]);
            t += take;
        }
    }

    pub fn rows(&self, il: usize, seq: usize) -> KvRows<'_> {
        KvRows { keys: &self.keys[il], values: &self.values[il], table: self.blocks.table(seq), kv_dim: self.kv_dim }
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

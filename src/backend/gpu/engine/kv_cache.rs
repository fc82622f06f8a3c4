//! The paged KV cache on a GPU: per layer a pool of key rows and one of value rows, all
//! sequences' block tables in one device buffer, and the bookkeeping (`KvBlocks`) the CPU's
//! cache keeps too. The tables go to the device when they change; a block a sequence shares
//! where it writes is copied on the device first.

use std::rc::Rc;

use crate::backend::gpu::{f16, DeviceBuffer, Gpu, StreamHandle};
use crate::backend::{BackendError, KvBlocks, Run, KV_BLOCK};

pub struct GpuKvCache {
    /// Per layer: the block pools of keys and values, rows of `kv_dim` f16.
    layers: Vec<(DeviceBuffer<f16>, DeviceBuffer<f16>)>,
    blocks: KvBlocks,
    /// The sequences' block tables, `blocks_per_seq` entries apart, and what was last uploaded
    /// of each.
    tables: DeviceBuffer<i32>,
    uploaded: Vec<Vec<u32>>,
    kv_dim: usize,
}

/// The cache's shape as the kernels take it: rows of each layer's pools, sequences, and the
/// distance between two sequences' block tables.
#[derive(Debug, Clone, Copy)]
pub struct KvGeometry {
    pub kv_rows: i32,
    pub n_seq: i32,
    pub table_stride: i32,
}

/// Rows of each layer's key (and value) pool for `n_seq` sequences of `n_ctx` positions;
/// `usize::MAX` where that overflows, which every check downstream then refuses.
fn pool_rows(n_seq: usize, n_ctx: usize) -> usize {
    KvBlocks::pool_blocks(n_seq, n_ctx).and_then(|b| b.checked_mul(KV_BLOCK)).unwrap_or(usize::MAX)
}

impl GpuKvCache {
    /// Device bytes of the pools for `n_seq` sequences of `n_ctx` positions (saturating), which
    /// the caller checks against free memory before `new`.
    pub fn bytes(n_layer: usize, kv_dim: usize, n_seq: usize, n_ctx: usize) -> u64 {
        let rows = pool_rows(n_seq, n_ctx);
        (2 * n_layer as u64).saturating_mul(rows as u64).saturating_mul(kv_dim as u64 * size_of::<f16>() as u64)
    }

    pub fn new(
        gpu: &Rc<dyn Gpu>,
        n_layer: usize,
        kv_dim: usize,
        n_seq: usize,
        n_ctx: usize,
    ) -> Result<Self, BackendError> {
        let rows = pool_rows(n_seq, n_ctx);
        if rows.saturating_mul(kv_dim) > u32::MAX as usize {
            return Err(BackendError::Unsupported(format!(
                "a KV cache of {n_ctx} positions × {n_seq} sequences: the kernels address a layer's cache with 32-bit offsets"
            )));
        }
        let blocks = KvBlocks::new(n_seq, n_ctx);
        let pool = || DeviceBuffer::<f16>::uninit(gpu, rows * kv_dim);
        let layers = (0..n_layer).map(|_| Ok((pool()?, pool()?))).collect::<Result<Vec<_>, BackendError>>()?;
        let tables = DeviceBuffer::<i32>::uninit(gpu, blocks.n_blocks().max(1))?;
        Ok(GpuKvCache { layers, blocks, tables, uploaded: vec![Vec::new(); n_seq], kv_dim })
    }

    pub fn blocks(&self) -> &KvBlocks {
        &self.blocks
    }

    pub fn blocks_mut(&mut self) -> &mut KvBlocks {
        &mut self.blocks
    }

    pub fn geometry(&self) -> KvGeometry {
        let b = &self.blocks;
        KvGeometry {
            kv_rows: (b.n_blocks() * KV_BLOCK) as i32,
            n_seq: b.n_seq() as i32,
            table_stride: b.blocks_per_seq() as i32,
        }
    }

    /// Layer `il`'s key and value pools.
    pub fn layer(&self, il: usize) -> (&DeviceBuffer<f16>, &DeviceBuffer<f16>) {
        let (k, v) = &self.layers[il];
        (k, v)
    }

    /// Layer `il`'s pools to write, with the tables that say where.
    pub fn layer_mut(&mut self, il: usize) -> (&mut DeviceBuffer<f16>, &mut DeviceBuffer<f16>, &DeviceBuffer<i32>) {
        let (k, v) = &mut self.layers[il];
        (k, v, &self.tables)
    }

    /// All sequences' block tables, `geometry().table_stride` entries apart.
    pub fn tables(&self) -> &DeviceBuffer<i32> {
        &self.tables
    }

    /// Makes room for `run` in the pools: blocks added to its sequence's table, and the blocks
    /// it shares where it writes copied (in every layer, on `stream`) before the write.
    pub fn make_room(&mut self, stream: StreamHandle, run: &Run) -> Result<(), BackendError> {
        let elems = KV_BLOCK * self.kv_dim;
        for copy in self.blocks.prepare(run.seq, run.pos0, run.len)? {
            let (from, to) = (copy.from as usize * elems, copy.to as usize * elems);
            for (k, v) in &mut self.layers {
                k.copy_within(stream, from, to, elems)?;
                v.copy_within(stream, from, to, elems)?;
            }
        }
        Ok(())
    }

    /// Uploads the block tables that changed since their last upload.
    pub fn upload_tables(&mut self) -> Result<(), BackendError> {
        let stride = self.blocks.blocks_per_seq();
        for (seq, uploaded) in self.uploaded.iter_mut().enumerate() {
            let table = self.blocks.table(seq);
            if uploaded[..] != *table {
                let rows: Vec<i32> = table.iter().map(|&b| b as i32).collect();
                self.tables.upload_at(seq * stride, &rows)?;
                *uploaded = table.to_vec();
            }
        }
        Ok(())
    }
}

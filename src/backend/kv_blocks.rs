//! The paged KV cache's bookkeeping, the same on every device (vLLM's PagedAttention layout):
//! the cache is a pool of blocks of `KV_BLOCK` positions, and each sequence has a table of the
//! blocks that hold its positions, in order. A prefix is shared between sequences by pointing
//! their tables at the same blocks (reference counted); a sequence about to write into a block
//! that another one still reads gets its own copy first (copy on write). The devices keep the
//! blocks' contents; their KV store and attention go through the tables.
//!
//! The pool holds as many blocks as all sequences filled to their context would take. Every
//! block in use is in some table and no table is longer than a full context, so a sequence can
//! always grow to its context: sharing saves computation and memory but never makes another
//! sequence wait or be evicted.

use super::BackendError;

/// Positions per block (defined with the kernels that read the tables): small enough that
/// prompts share most of a common prefix, large enough that a block's rows are a contiguous
/// read on a GPU.
pub const KV_BLOCK: usize = rocmforge_codegen::kernels::KV_BLOCK as usize;

/// The pool row of position `p` of the sequence whose block table is `table` (the kernels'
/// `kv_row` in `templates/partials/kv_paged.hip.j2`).
pub fn row_of(table: &[u32], p: usize) -> usize {
    table[p / KV_BLOCK] as usize * KV_BLOCK + p % KV_BLOCK
}

/// A block's contents to copy (in every layer, keys and values) before the sequence whose table
/// now names `to` writes into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCopy {
    pub from: u32,
    pub to: u32,
}

/// The pool's blocks by state, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvUsage {
    /// Held by a running sequence (shared blocks counted once).
    pub running: usize,
    /// Held only by idle sequences: prefixes kept for later requests.
    pub cached: usize,
    pub free: usize,
}

#[derive(Debug, Clone)]
pub struct KvBlocks {
    blocks_per_seq: usize,
    /// Tables naming each block.
    refs: Vec<u32>,
    free: Vec<u32>,
    tables: Vec<Vec<u32>>,
    lens: Vec<usize>,
}

impl KvBlocks {
    /// Blocks of the pool for `n_seq` sequences of up to `n_ctx` positions each, `None` past the
    /// address space: what devices check against their memory before making one.
    pub fn pool_blocks(n_seq: usize, n_ctx: usize) -> Option<usize> {
        n_seq.checked_mul(n_ctx.div_ceil(KV_BLOCK))
    }

    /// A pool for `n_seq` sequences of up to `n_ctx` positions each (`pool_blocks` of them,
    /// which the caller has checked).
    pub fn new(n_seq: usize, n_ctx: usize) -> Self {
        let blocks_per_seq = n_ctx.div_ceil(KV_BLOCK);
        let n = n_seq * blocks_per_seq;
        KvBlocks {
            blocks_per_seq,
            refs: vec![0; n],
            free: (0..n as u32).rev().collect(),
            tables: vec![Vec::new(); n_seq],
            lens: vec![0; n_seq],
        }
    }

    /// Blocks in the pool.
    pub fn n_blocks(&self) -> usize {
        self.refs.len()
    }

    /// The longest table: a full context's blocks.
    pub fn blocks_per_seq(&self) -> usize {
        self.blocks_per_seq
    }

    pub fn n_seq(&self) -> usize {
        self.tables.len()
    }

    /// Positions `seq` holds; its next token goes there.
    pub fn len(&self, seq: usize) -> usize {
        self.lens[seq]
    }

    /// The blocks of `seq`'s positions, in order (those of a write in progress included).
    pub fn table(&self, seq: usize) -> &[u32] {
        &self.tables[seq]
    }

    /// Forgets `seq`'s positions from `len` on; blocks no table names any more are free.
    pub fn truncate(&mut self, seq: usize, len: usize) {
        self.lens[seq] = self.lens[seq].min(len);
        let keep = self.lens[seq].div_ceil(KV_BLOCK);
        for b in self.tables[seq].split_off(keep) {
            self.release(b);
        }
    }

    /// Makes `dst` hold `src`'s first `len` positions by sharing their blocks (what `dst` held
    /// before is forgotten), as llama.cpp's `llama_memory_seq_cp`.
    pub fn share(&mut self, src: usize, dst: usize, len: usize) {
        if src == dst {
            return self.truncate(dst, len);
        }
        self.truncate(dst, 0);
        let len = len.min(self.lens[src]);
        let shared = self.tables[src][..len.div_ceil(KV_BLOCK)].to_vec();
        for &b in &shared {
            self.refs[b as usize] += 1;
        }
        self.tables[dst] = shared;
        self.lens[dst] = len;
    }

    /// Makes positions `pos0..pos0 + n` of `seq` writable: blocks are added past its table, and
    /// a block it shares is replaced by a fresh one, whose contents the caller copies (the
    /// returned copies) before it writes. `pos0 + n` must be within the context.
    pub fn prepare(&mut self, seq: usize, pos0: usize, n: usize) -> Result<Vec<BlockCopy>, BackendError> {
        let mut copies = Vec::new();
        if n == 0 {
            return Ok(copies);
        }
        let end = (pos0 + n - 1) / KV_BLOCK;
        if end >= self.blocks_per_seq {
            let n_ctx = self.blocks_per_seq * KV_BLOCK;
            return Err(BackendError::ContextFull { n_ctx, needed: pos0 + n });
        }
        for b in pos0 / KV_BLOCK..=end {
            match self.tables[seq].get(b).copied() {
                Some(old) if self.refs[old as usize] > 1 => {
                    let new = self.alloc()?;
                    self.refs[old as usize] -= 1;
                    self.tables[seq][b] = new;
                    copies.push(BlockCopy { from: old, to: new });
                }
                Some(_) => {}
                None => {
                    let new = self.alloc()?;
                    self.tables[seq].push(new);
                }
            }
        }
        Ok(copies)
    }

    /// Records that `seq` now holds `len` positions (after a write that `prepare` made room for).
    pub fn commit(&mut self, seq: usize, len: usize) {
        debug_assert!(len.div_ceil(KV_BLOCK) <= self.tables[seq].len());
        self.lens[seq] = len;
    }

    /// The pool's blocks, as held by running sequences (`running(seq)`), idle ones, or none.
    pub fn usage(&self, running: impl Fn(usize) -> bool) -> KvUsage {
        let mut state = vec![0u8; self.refs.len()]; // 0 free, 1 cached, 2 running
        for (seq, table) in self.tables.iter().enumerate() {
            let s = if running(seq) { 2 } else { 1 };
            for &b in table {
                state[b as usize] = state[b as usize].max(s);
            }
        }
        let count = |s: u8| state.iter().filter(|&&x| x == s).count();
        KvUsage { running: count(2), cached: count(1), free: count(0) }
    }

    fn alloc(&mut self) -> Result<u32, BackendError> {
        // Unreachable while every table stays within a context (the module doc): an error, not
        // a panic, should that ever be broken.
        let b = self.free.pop().ok_or_else(|| BackendError::BadBatch("the KV cache's block pool is empty".into()))?;
        self.refs[b as usize] = 1;
        Ok(b)
    }

    fn release(&mut self, b: u32) {
        let r = &mut self.refs[b as usize];
        *r -= 1;
        if *r == 0 {
            self.free.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(kv: &mut KvBlocks, seq: usize, n: usize) -> Vec<BlockCopy> {
        let pos0 = kv.len(seq);
        let copies = kv.prepare(seq, pos0, n).unwrap();
        kv.commit(seq, pos0 + n);
        copies
    }

    #[test]
    fn sequences_take_blocks_as_they_grow_and_free_them_when_truncated() {
        let mut kv = KvBlocks::new(2, 100);
        assert_eq!((kv.n_blocks(), kv.blocks_per_seq()), (14, 7));
        assert!(fill(&mut kv, 0, 17).is_empty());
        assert_eq!(kv.table(0).len(), 2);
        fill(&mut kv, 0, 15);
        assert_eq!(kv.table(0).len(), 2);
        fill(&mut kv, 0, 1);
        assert_eq!((kv.len(0), kv.table(0).len()), (33, 3));
        assert_eq!(kv.usage(|_| true), KvUsage { running: 3, cached: 0, free: 11 });
        kv.truncate(0, 16);
        assert_eq!((kv.len(0), kv.table(0).len()), (16, 1));
        assert_eq!(kv.usage(|_| false), KvUsage { running: 0, cached: 1, free: 13 });
        assert!(matches!(kv.prepare(0, 16, 100), Err(BackendError::ContextFull { n_ctx: 112, needed: 116 })));
    }

    #[test]
    fn a_shared_prefix_is_copied_only_where_it_is_written() {
        let mut kv = KvBlocks::new(3, 64);
        fill(&mut kv, 0, 40); // blocks a b c, c partly filled
        kv.share(0, 1, 40);
        assert_eq!(kv.table(1), kv.table(0));
        assert_eq!(kv.usage(|s| s == 1), KvUsage { running: 3, cached: 0, free: 9 });
        // Sequence 1 appends into the shared third block: it gets a copy of it.
        let copies = fill(&mut kv, 1, 2);
        assert_eq!(copies, [BlockCopy { from: kv.table(0)[2], to: kv.table(1)[2] }]);
        assert_eq!(kv.table(1)[..2], kv.table(0)[..2]);
        // Sequence 0 appends into its own third block: no copy.
        assert!(fill(&mut kv, 0, 1).is_empty());
        // Sharing a whole number of blocks never copies.
        kv.share(0, 2, 32);
        assert!(fill(&mut kv, 2, 5).is_empty());
        assert_eq!(kv.table(2)[..2], kv.table(0)[..2]);
        // Forgetting the source keeps the blocks the others still name.
        kv.truncate(0, 0);
        assert_eq!(kv.usage(|_| true).running, 4); // a b, and each one's own third block
        kv.truncate(1, 0);
        kv.truncate(2, 0);
        assert_eq!(kv.usage(|_| true), KvUsage { running: 0, cached: 0, free: 12 });
    }

    /// Random appends, shares and truncations never exhaust the pool, and every block's
    /// reference count is the number of tables naming it.
    #[test]
    fn the_pool_never_runs_out_and_counts_stay_exact() {
        let (n_seq, n_ctx) = (4, 50);
        let mut kv = KvBlocks::new(n_seq, n_ctx);
        let mut state = 0x9E37_79B9u32;
        let mut next = |m: usize| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as usize % m
        };
        for _ in 0..5000 {
            let seq = next(n_seq);
            match next(4) {
                0 | 1 => {
                    let room = n_ctx - kv.len(seq);
                    if room > 0 {
                        fill(&mut kv, seq, 1 + next(room));
                    }
                }
                2 => {
                    let len = next(kv.len(seq) + 1);
                    kv.truncate(seq, len);
                }
                _ => {
                    let src = next(n_seq);
                    let len = next(kv.len(src) + 1);
                    kv.share(src, seq, len);
                }
            }
            let mut refs = vec![0u32; kv.n_blocks()];
            for s in 0..n_seq {
                assert_eq!(kv.table(s).len(), kv.len(s).div_ceil(KV_BLOCK));
                kv.table(s).iter().for_each(|&b| refs[b as usize] += 1);
            }
            assert_eq!(refs, kv.refs);
            assert_eq!(kv.free.len(), refs.iter().filter(|&&r| r == 0).count());
        }
    }
}

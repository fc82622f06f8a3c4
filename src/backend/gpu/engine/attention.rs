//! Decode attention as one call: `attn_decode` writes each split of the keys' partial output
//! and (max, sum) into `part_o`/`part_ml` for every query token (each of its own sequence), and
//! `attn_decode_reduce` combines them (a token's heads are heads to it). The engine,
//! the kernel benchmark and the typed parity check all launch the pair through here.

use crate::backend::gpu::launchers::{attn_decode, attn_decode_reduce};
use crate::backend::gpu::{f16, DeviceBuffer, LaunchError, StreamHandle, View, ViewMut};

/// One decode step's attention for every head of `q_pos.len()` tokens.
pub struct DecodeAttention<'a> {
    pub out: ViewMut<'a, f32>,
    /// Per token, head and split: the partial output and its (max, sum); room for `n_splits`.
    pub part_o: &'a mut DeviceBuffer<f32>,
    pub part_ml: &'a mut DeviceBuffer<f32>,
    pub q: View<'a, f32>,
    /// The block pools, and the block tables of `n_seq` sequences, `table_stride` apart
    /// (`backend::kv_blocks`).
    pub k_cache: View<'a, f16>,
    pub v_cache: View<'a, f16>,
    pub kv_tables: View<'a, i32>,
    /// Rows of each pool.
    pub kv_rows: usize,
    pub n_seq: usize,
    pub table_stride: usize,
    /// Each token's sequence.
    pub q_seq: View<'a, i32>,
    pub q_pos: View<'a, i32>,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Sliding window in positions, 0 for none.
    pub window: i32,
    pub scale: f32,
    pub split_len: usize,
    pub n_ctx: usize,
    /// Splits launched; those past the query's position come out empty and add nothing.
    pub n_splits: usize,
}

/// Launches the pair on `s`.
pub fn decode_attention(
    decode: &attn_decode::Kernel,
    reduce: &attn_decode_reduce::Kernel,
    s: StreamHandle,
    a: DecodeAttention,
) -> Result<(), LaunchError> {
    let n_tokens = a.q_pos.len();
    let args = attn_decode::Args {
        part_o: a.part_o.view_mut(),
        part_ml: a.part_ml.view_mut(),
        q: a.q,
        k_cache: a.k_cache,
        v_cache: a.v_cache,
        kv_tables: a.kv_tables,
        q_pos: a.q_pos,
        q_seq: a.q_seq,
        n_head_kv: a.n_head_kv as i32,
        n_head: a.n_head as i32,
        window: a.window,
        scale: a.scale,
        split_len: a.split_len as i32,
        n_ctx: a.n_ctx as i32,
        kv_rows: a.kv_rows as i32,
        n_seq: a.n_seq as i32,
        table_stride: a.table_stride as i32,
        n_splits: a.n_splits as u32,
        n_tokens: n_tokens as u32,
    };
    decode.launch(s, args)?;
    let args = attn_decode_reduce::Args {
        out: a.out,
        part_o: a.part_o.view(),
        part_ml: a.part_ml.view(),
        n_splits: a.n_splits as i32,
        n_head: (n_tokens * a.n_head) as u32,
    };
    reduce.launch(s, args)
}

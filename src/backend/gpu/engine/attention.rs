//! Decode attention as one call: `attn_decode` writes each split of the keys' partial output
//! and (max, sum) into `part_o`/`part_ml` for every query token (each of its own sequence), and
//! `attn_decode_reduce` combines them (a token's heads are heads to it) and quantizes the
//! result. The engine, the kernel benchmark and the typed parity check all launch the pair
//! through here. And how the executor cuts a pass's runs into attention launches
//! (`attention_groups`).

use super::UBATCH;
use crate::backend::gpu::launchers::{attn_decode, attn_decode_reduce};
use crate::backend::gpu::{f16, BlockQ8_1, DeviceBuffer, LaunchError, StreamHandle, View, ViewMut};
use crate::backend::Run;
use rocmforge_codegen::kernels::attn_decode::keys_per_pass;

/// One decode step's attention for every head of `q_pos.len()` tokens.
pub struct DecodeAttention<'a> {
    pub out: ViewMut<'a, f32>,
    /// `out` quantized to q8_1, for the output projection's mat-vec.
    pub xq: ViewMut<'a, BlockQ8_1>,
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
    pub n_ctx: usize,
    /// Splits each query's keys are cut into (`decode_splits`).
    pub n_splits: usize,
}

/// Workgroups a decode attention launch aims at per token: about as many as an H200 holds at
/// once (the kernel's stretches follow the query's length on the device, so a longer context
/// makes each longer, not more of them).
const DECODE_WORKGROUPS: usize = 512;

/// The splits of decode attention for `n_head` heads of `head_dim` in a context of `n_ctx`:
/// enough workgroups to fill the GPU, no more than the context has passes of keys.
pub fn decode_splits(n_ctx: usize, n_head: usize, head_dim: usize) -> usize {
    let passes = n_ctx.div_ceil(keys_per_pass(head_dim as u32) as usize);
    DECODE_WORKGROUPS.div_ceil(n_head).clamp(1, passes.max(1))
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
        xq: a.xq,
        part_o: a.part_o.view(),
        part_ml: a.part_ml.view(),
        n_splits: a.n_splits as i32,
        n_head: (n_tokens * a.n_head) as u32,
    };
    reduce.launch(s, args)
}

/// Consecutive tokens of a pass that attention takes in one launch: a stretch of runs of one
/// token each (decode: each its own sequence), or one longer run (a prompt).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct AttentionGroup {
    pub start: usize,
    pub len: usize,
    pub decode: bool,
    /// For a prompt: its sequence and first position.
    pub seq: usize,
    pub pos0: usize,
}

/// The pass's runs as attention launches, at most `decode_max` tokens to a decode launch.
pub(super) fn attention_groups(runs: &[Run], decode_max: usize) -> Vec<AttentionGroup> {
    let mut groups: Vec<AttentionGroup> = Vec::new();
    for r in runs {
        match groups.last_mut() {
            Some(g) if g.decode && r.len == 1 && g.start + g.len == r.start && g.len < decode_max => g.len += 1,
            _ => {
                groups.push(AttentionGroup { start: r.start, len: r.len, decode: r.len == 1, seq: r.seq, pos0: r.pos0 })
            }
        }
    }
    groups
}

/// Tokens one decode attention launch takes, which its partials are sized for: a decode step
/// holds a token of each sequence.
pub(super) fn decode_max(n_seq: usize) -> usize {
    n_seq.clamp(1, UBATCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_runs_share_a_decode_launch_up_to_its_size() {
        let run = |seq, pos0, start, len| Run { seq, pos0, start, len };
        let runs = [run(3, 9, 0, 1), run(1, 4, 1, 1), run(0, 7, 2, 1), run(2, 0, 3, 5), run(4, 2, 8, 1)];
        let groups = attention_groups(&runs, 2);
        let g = |start, len, decode, seq, pos0| AttentionGroup { start, len, decode, seq, pos0 };
        assert_eq!(groups, [g(0, 2, true, 3, 9), g(2, 1, true, 0, 7), g(3, 5, false, 2, 0), g(8, 1, true, 4, 2)]);
    }
}

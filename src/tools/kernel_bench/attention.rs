//! Decode attention over the paged cache, and prefill attention.

use std::rc::Rc;

use super::{f16s, f32s, filled, time, BenchResult, Work};
use crate::tools::parity::inputs::{block_table, rng};
use rocmforge::backend::gpu::engine::{decode_attention, decode_splits, DecodeAttention};
use rocmforge::backend::gpu::launchers::{attn_decode, attn_decode_reduce, attn_prefill};
use rocmforge::backend::gpu::{BlockQ8_1, DeviceBuffer, Gpu, Kernels, LaunchError};
use rocmforge::backend::KV_BLOCK;

/// The block table of a cache of `n_pos` positions (a multiple of the block) that fills its
/// pool, its blocks shuffled as in a server's pool.
fn paged_table(gpu: &Rc<dyn Gpu>, n_pos: usize) -> Result<DeviceBuffer<i32>, LaunchError> {
    let table = block_table(&mut rng("bench table"), n_pos, n_pos.div_ceil(KV_BLOCK));
    filled(gpu, &table.iter().map(|&b| b as i32).collect::<Vec<_>>())
}

/// One decode step's attention for a llama-8B-like layer: 32 query heads over 8 KV heads.
pub(super) fn decode_attention_bench(k: &Kernels, d: usize, kv_len: usize) -> Result<BenchResult, LaunchError> {
    let g = k.gpu();
    let (n_head, n_head_kv) = (32usize, 8usize);
    let n_splits = decode_splits(kv_len, n_head, d);
    let kv_dim = n_head_kv * d;
    let (kc, vc) = (f16s(g, "bench k", kv_len * kv_dim)?, f16s(g, "bench v", kv_len * kv_dim)?);
    let table = paged_table(g, kv_len)?;
    let q = f32s(g, "bench q", n_head * d)?;
    let mut part_o = DeviceBuffer::<f32>::uninit(g, n_head * n_splits * d)?;
    let mut part_ml = DeviceBuffer::<f32>::uninit(g, n_head * n_splits * 2)?;
    let mut out = DeviceBuffer::<f32>::uninit(g, n_head * d)?;
    let mut xq = DeviceBuffer::<BlockQ8_1>::uninit(g, n_head * d / 32)?;
    let (q_pos, q_seq) = (DeviceBuffer::from_slice(g, &[kv_len as i32 - 1])?, DeviceBuffer::from_slice(g, &[0])?);
    let bytes = (2 * kv_len * kv_dim * 2) as f64;
    let scale = 1.0 / (d as f32).sqrt();
    let name = format!("attn_decode+reduce d{d} 32/8 heads kv {kv_len}, {n_splits} splits");
    let (decode, reduce) =
        (attn_decode::Kernel::resolve(k, d as u32)?, attn_decode_reduce::Kernel::resolve(k, d as u32)?);
    time(k, name, Work::Bytes(bytes), &mut |s| {
        let args = DecodeAttention {
            out: out.view_mut(),
            xq: xq.view_mut(),
            part_o: &mut part_o,
            part_ml: &mut part_ml,
            q: q.view(),
            k_cache: kc.view(),
            v_cache: vc.view(),
            kv_tables: table.view(),
            kv_rows: kv_len,
            n_seq: 1,
            table_stride: table.len(),
            q_pos: q_pos.view(),
            q_seq: q_seq.view(),
            n_head,
            n_head_kv,
            window: 0,
            scale,
            n_ctx: kv_len,
            n_splits,
        };
        decode_attention(&decode, &reduce, s, args)
    })
}

/// Causal attention of `tokens` queries after `depth` cached positions (llama-bench's `-d`).
pub(super) fn prefill_bench(k: &Kernels, d: usize, tokens: usize, depth: usize) -> Result<BenchResult, LaunchError> {
    let g = k.gpu();
    let (n_head, n_head_kv) = (32usize, 8usize);
    let (kv_dim, n_pos) = (n_head_kv * d, depth + tokens);
    let (kc, vc) = (f16s(g, "bench k", n_pos * kv_dim)?, f16s(g, "bench v", n_pos * kv_dim)?);
    let table = paged_table(g, n_pos)?;
    let q = f32s(g, "bench q", tokens * n_head * d)?;
    let mut out = DeviceBuffer::<f32>::uninit(g, tokens * n_head * d)?;
    // Every query sees the depth and about half of the prompt; two matrix products (QK^T, PV).
    let flops = 2.0 * 2.0 * (tokens * depth + tokens * tokens / 2) as f64 * (d * n_head) as f64;
    let scale = 1.0 / (d as f32).sqrt();
    let at = if depth > 0 { format!(" at depth {depth}") } else { String::new() };
    let name = format!("attn_prefill d{d} 32/8 heads {tokens} tokens{at}");
    let kernel = attn_prefill::Kernel::resolve(k, d as u32)?;
    time(k, name, Work::Flops(flops), &mut |s| {
        let args = attn_prefill::Args {
            out: out.view_mut(),
            q: q.view(),
            k_cache: kc.view(),
            v_cache: vc.view(),
            kv_table: table.view(),
            n_tokens: tokens as i32,
            n_head_kv: n_head_kv as i32,
            n_head: n_head as i32,
            pos0: depth as i32,
            window: 0,
            scale,
            kv_rows: n_pos as i32,
        };
        kernel.launch(s, args)
    })
}

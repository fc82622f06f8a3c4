//! A few launches through the generated typed launchers, compared with the CPU: the same
//! kernels the case table runs, reached the way the engine will reach them, and the decode
//! attention pair chained (split-K partials, then the reduce) against softmax(q·Kᵀ)·V in f64.
//! (Not against the engine's decode attention: like llama.cpp's CPU kernel it accumulates V in
//! f16, which at 4096 keys is about 1e-2 from exact; the GPU accumulates in f32.)

use std::rc::Rc;

use super::cases::{dequantized, mat_vec, q8_1, softmax_partial};
use super::inputs::{block_table, nonzero, paged, quant_blocks, rng, round_f16, to_f16, typed_blocks};
use super::{normalized_error, Outcome};
use rocmforge::backend::cpu::ops;
use rocmforge::backend::gpu::engine::{self, DecodeAttention, DeviceSampler};
use rocmforge::backend::gpu::launchers::{attn_decode, attn_decode_reduce, matvec, quantize_q8_1, rmsnorm, rope};
use rocmforge::backend::gpu::{BlockQ8_1, DeviceBuffer, Gpu, Kernels, LaunchError, Quant, QuantBlock, StreamHandle};
use rocmforge::backend::KV_BLOCK;
use rocmforge::engine::sampler::{self, SamplerConfig};
use rocmforge::model::RopeKind;
use rocmforge::quant::blocks::BlockQ4K;

type Check = fn(&Kernels) -> Result<f64, LaunchError>;

/// Runs the typed-launcher checks; each is one outcome.
pub fn run_typed(kernels: &Kernels) -> Vec<Outcome> {
    let checks: [(&str, Check, f64); 7] = [
        ("rmsnorm 7x2048, async copies", norm, 1e-5),
        ("quantize_q8_1 + matvec::<BlockQ4K> 4097x2048", matvec_q4k, 1e-5),
        ("rope neox d128, 17 tokens x 8 heads", rope_neox, 1e-5),
        ("attn_decode + attn_decode_reduce d128, GQA 4, kv 4096 split for 8192", decode_attention, 1e-5),
        ("topk + sample 5x262144, llama defaults (share of rows off)", sample_llama_defaults, 0.0),
        ("topk + sample 5x151936, k=128 t=1.5 (share of rows off)", sample_wide, 0.0),
        ("a view shorter than its extent is refused (1 if launched)", short_view, 0.0),
    ];
    checks
        .into_iter()
        .map(|(what, check, tolerance)| Outcome {
            case: format!("typed: {what}"),
            output: "out".into(),
            error: check(kernels).map_err(|e| e.to_string()),
            tolerance,
        })
        .collect()
}

fn gpu(kernels: &Kernels) -> &Rc<dyn Gpu> {
    kernels.gpu()
}

fn norm(k: &Kernels) -> Result<f64, LaunchError> {
    let (rows, n) = (7, 2048);
    let mut r = rng("typed rmsnorm");
    let (x, w) = (nonzero(&mut r, rows * n), nonzero(&mut r, n));
    let mut want = vec![0.0; rows * n];
    for (o, xr) in want.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        ops::rmsnorm(o, xr, &w, 1e-6);
    }
    // Through the asynchronous copies.
    let stream = StreamHandle::DEFAULT;
    let mut xd = DeviceBuffer::<f32>::uninit(gpu(k), rows * n)?;
    let upload = xd.upload_async(stream, &x)?;
    let mut y = DeviceBuffer::<f32>::uninit(gpu(k), rows * n)?;
    y.fill_bytes(0xFF)?;
    let wd = DeviceBuffer::from_slice(gpu(k), &w)?;
    let args =
        rmsnorm::Args { y: y.view_mut(), x: xd.view(), w: wd.view(), n: n as i32, eps: 1e-6, n_rows: rows as u32 };
    rmsnorm::Kernel::resolve(k)?.launch(stream, args)?;
    let mut got = vec![0.0f32; rows * n];
    y.download_async(stream, &mut got)?.wait()?;
    upload.wait()?;
    Ok(normalized_error(&got, &want))
}

/// The decode projection as the engine chains it: x quantized on the GPU, then the mat-vec. The
/// reference quantizes x on the CPU; the two quantizers agree bit for bit.
fn matvec_q4k(k: &Kernels) -> Result<f64, LaunchError> {
    let (rows, cols) = (4097, 2048);
    let mut r = rng("typed matvec");
    let bytes = quant_blocks(&mut r, BlockQ4K::QUANT, rows * cols);
    let x = nonzero(&mut r, cols);
    let want = mat_vec(&dequantized(BlockQ4K::QUANT, &bytes, rows * cols), &q8_1(&x).1, cols);
    // As the engine uploads weights: in the device's order of the format's blocks.
    let blocks: Vec<BlockQ4K> = typed_blocks(&BlockQ4K::QUANT.to_device_layout(&bytes));
    let mut xq = DeviceBuffer::<BlockQ8_1>::uninit(gpu(k), cols / 32)?;
    let mut y = DeviceBuffer::<f32>::uninit(gpu(k), rows)?;
    y.fill_bytes(0xFF)?;
    let (xd, w) = (DeviceBuffer::from_slice(gpu(k), &x)?, DeviceBuffer::from_slice(gpu(k), &blocks)?);
    let s = StreamHandle::DEFAULT;
    let (n_cols, n_rows) = (cols as i32, rows as i32);
    quantize_q8_1::Kernel::resolve(k)?
        .launch(s, quantize_q8_1::Args { xq: xq.view_mut(), x: xd.view(), n_cols, n_rows: 1 })?;
    let args = matvec::Args { y: y.view_mut(), w: w.view(), xq: xq.view(), n_cols, n_rows };
    default_matvec(k)?.launch(s, args)?;
    gpu(k).synchronize(s)?;
    Ok(normalized_error(&y.to_vec()?, &want))
}

/// The Q4_K mat-vec with its untuned axes.
fn default_matvec(k: &Kernels) -> Result<matvec::Kernel<BlockQ4K>, LaunchError> {
    let d = k.tuning_defaults(matvec::FAMILY, Some(Quant::Q4K))?;
    matvec::Kernel::resolve(k, d.get("rows"), d.get("loads"))
}

/// A mat-vec whose output view is one row short: the launch must be refused before it reaches
/// the GPU, with an error naming the argument.
fn short_view(k: &Kernels) -> Result<f64, LaunchError> {
    let (rows, cols) = (64, 256);
    let w = DeviceBuffer::<BlockQ4K>::uninit(gpu(k), rows * cols / 256)?;
    let xq = DeviceBuffer::<BlockQ8_1>::uninit(gpu(k), cols / 32)?;
    let mut y = DeviceBuffer::<f32>::uninit(gpu(k), rows)?;
    let args =
        matvec::Args { y: y.slice_mut(1..rows), w: w.view(), xq: xq.view(), n_cols: cols as i32, n_rows: rows as i32 };
    match default_matvec(k)?.launch(StreamHandle::DEFAULT, args) {
        Err(LaunchError::View { arg: "y", need: 64, len: 63, .. }) => Ok(0.0),
        Err(e) => Err(e),
        Ok(()) => Ok(1.0),
    }
}

fn rope_neox(k: &Kernels) -> Result<f64, LaunchError> {
    let (tokens, heads, d) = (17, 8, 128);
    let mut r = rng("typed rope");
    let x = nonzero(&mut r, tokens * heads * d);
    let positions: Vec<i32> = (0..tokens as i32).map(|t| 1000 + 3 * t).collect();
    let theta_scale = 10_000f32.powf(-2.0 / d as f32);
    let mut want = x.clone();
    for (t, token) in want.chunks_exact_mut(heads * d).enumerate() {
        let angles = ops::rope_angles(positions[t] as usize, d, 10_000.0, 1.0, None);
        token.chunks_exact_mut(d).for_each(|head| ops::rope(head, &angles, RopeKind::Neox));
    }
    let mut q = DeviceBuffer::from_slice(gpu(k), &x)?;
    let pos = DeviceBuffer::from_slice(gpu(k), &positions)?;
    let args = rope::Args {
        x: q.view_mut(),
        pos: pos.view(),
        factors: None,
        n_heads: heads as i32,
        n_rot: d as i32,
        theta_scale,
        freq_scale: 1.0,
        n_tokens: tokens as u32,
    };
    rope::Kernel::resolve(k, rope::Mode::Neox, d as u32)?.launch(StreamHandle::DEFAULT, args)?;
    gpu(k).synchronize(StreamHandle::DEFAULT)?;
    Ok(normalized_error(&q.to_vec()?, &want))
}

fn decode_attention(k: &Kernels) -> Result<f64, LaunchError> {
    let (n_head, n_head_kv, d, kv_len) = (8usize, 2usize, 128usize, 4096usize);
    let kv_dim = n_head_kv * d;
    let mut r = rng("typed decode attention");
    let keys = round_f16(&nonzero(&mut r, kv_len * kv_dim));
    let values = round_f16(&nonzero(&mut r, kv_len * kv_dim));
    let q = nonzero(&mut r, n_head * d);
    let scale = 1.0 / (d as f32).sqrt();
    let want = exact_decode(&q, &keys, &values, n_head, n_head_kv, d, scale);
    // Paged, blocks shuffled among spares full of NaN.
    let n_blocks = kv_len.div_ceil(KV_BLOCK) + 5;
    let table = block_table(&mut r, kv_len, n_blocks);
    let pool = |c: &[f32]| to_f16(&paged(c, kv_dim, &table, n_blocks, f32::NAN));
    let (k16, v16) = (pool(&keys), pool(&values));
    let rows: Vec<i32> = table.iter().map(|&b| b as i32).collect();
    let kv_table = DeviceBuffer::from_slice(gpu(k), &rows)?;

    // Split for a context twice as long, as a captured decode graph may be: the last splits
    // come out empty.
    let n_splits = engine::decode_splits(2 * kv_len, n_head, d);
    let mut part_o = DeviceBuffer::<f32>::uninit(gpu(k), n_head * n_splits * d)?;
    let mut part_ml = DeviceBuffer::<f32>::uninit(gpu(k), n_head * n_splits * 2)?;
    let mut out = DeviceBuffer::<f32>::uninit(gpu(k), n_head * d)?;
    out.fill_bytes(0xFF)?;
    let mut xq = DeviceBuffer::<BlockQ8_1>::uninit(gpu(k), n_head * d / 32)?;
    let (kc, vc) = (DeviceBuffer::from_slice(gpu(k), &k16)?, DeviceBuffer::from_slice(gpu(k), &v16)?);
    let qd = DeviceBuffer::from_slice(gpu(k), &q)?;
    let q_pos = DeviceBuffer::from_slice(gpu(k), &[kv_len as i32 - 1])?;
    let q_seq = DeviceBuffer::from_slice(gpu(k), &[0])?;
    let s = StreamHandle::DEFAULT;
    let args = DecodeAttention {
        out: out.view_mut(),
        xq: xq.view_mut(),
        part_o: &mut part_o,
        part_ml: &mut part_ml,
        q: qd.view(),
        k_cache: kc.view(),
        v_cache: vc.view(),
        kv_tables: kv_table.view(),
        kv_rows: n_blocks * KV_BLOCK,
        n_seq: 1,
        table_stride: rows.len(),
        q_pos: q_pos.view(),
        q_seq: q_seq.view(),
        n_head,
        n_head_kv,
        window: 0,
        scale,
        n_ctx: kv_len,
        n_splits,
    };
    let (decode, reduce) =
        (attn_decode::Kernel::resolve(k, d as u32)?, attn_decode_reduce::Kernel::resolve(k, d as u32)?);
    engine::decode_attention(&decode, &reduce, s, args)?;
    gpu(k).synchronize(s)?;
    Ok(normalized_error(&out.to_vec()?, &want))
}

/// softmax(q·Kᵀ·scale)·V for one query over every cache row, per head, in f64.
fn exact_decode(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    n_head: usize,
    n_head_kv: usize,
    d: usize,
    scale: f32,
) -> Vec<f32> {
    let kv_dim = n_head_kv * d;
    let every_row: Vec<usize> = (0..keys.len() / kv_dim).collect();
    (0..n_head)
        .flat_map(|h| {
            let col = (h / (n_head / n_head_kv)) * d;
            let (_, l, o) = softmax_partial(&q[h * d..(h + 1) * d], keys, values, kv_dim, col, &every_row, scale);
            o.into_iter().map(move |x| (x / l) as f32)
        })
        .collect()
}

fn sample_llama_defaults(k: &Kernels) -> Result<f64, LaunchError> {
    two_stage_sample(k, 262_144, &SamplerConfig::default())
}

fn sample_wide(k: &Kernels) -> Result<f64, LaunchError> {
    let cfg = SamplerConfig { top_k: 128, top_p: 1.0, min_p: 0.0, temperature: 1.5, ..Default::default() };
    two_stage_sample(k, 151_936, &cfg)
}

/// The engine's device sampler against the CPU's `pick` with the same uniforms: the share of
/// rows whose token differs.
fn two_stage_sample(k: &Kernels, n_vocab: usize, cfg: &SamplerConfig) -> Result<f64, LaunchError> {
    let rows = 5;
    let mut r = rng(&format!("typed sample {n_vocab} {}", cfg.top_k));
    // Logits spread over ±12 so that top-p and min-p both cut somewhere inside the top-k.
    let logits: Vec<f32> = nonzero(&mut r, rows * n_vocab).iter().map(|v| v * 12.0).collect();
    let draws: Vec<f32> = (0..rows).map(|i| (i as f32 + 0.5) / rows as f32).collect();
    let want: Vec<u32> = logits.chunks_exact(n_vocab).zip(&draws).map(|(row, &u)| sampler::pick(row, cfg, u)).collect();
    let mut sampler = DeviceSampler::new(k, n_vocab, rows)?;
    let mut out = DeviceBuffer::<i32>::uninit(gpu(k), rows)?;
    out.fill_bytes(0xFF)?;
    sampler.set_draws(&draws)?;
    let s = StreamHandle::DEFAULT;
    sampler.enqueue(s, &mut out, &DeviceBuffer::from_slice(gpu(k), &logits)?, cfg, rows as u32)?;
    gpu(k).synchronize(s)?;
    let got = out.to_vec()?;
    Ok(got.iter().zip(&want).filter(|(&g, &w)| g as u32 != w).count() as f64 / rows as f64)
}

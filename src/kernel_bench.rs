//! Kernel speed on a GPU: each benchmark launches through the typed launchers, captured as a
//! graph of `REPEAT` launches on a stream, replayed and timed with events, so launch overhead
//! is out of the figure. Bandwidth-bound kernels report GB/s (weights, KV cache and activations
//! read and written once), compute-bound ones TFLOP/s. The mat-vecs cycle through copies of
//! their weights larger than the L2 cache together, one copy per launch, so their rate is
//! DRAM's, as in decode, where each layer's weights are read once per token; they count the
//! weight bytes only.

use std::rc::Rc;

use crate::backend::gpu::engine::DeviceSampler;
use crate::backend::gpu::launchers::{
    argmax, attn_decode, attn_decode_reduce, attn_prefill, dequant, gemm_f16, matvec, matvec_glu, quantize_q8_1,
    rmsnorm,
};
use crate::backend::gpu::{f16, BlockQ8_1, DeviceBuffer, DeviceElem, Gpu, Kernels, LaunchError, QuantBlock};
use crate::engine::sampler::SamplerConfig;
use crate::parity::inputs::{nonzero, quant_blocks, rng, to_f16, typed_blocks};
use crate::quant::blocks::*;

/// Launches per captured graph.
const REPEAT: usize = 100;
/// Timed replays of the graph; the median is reported.
const TRIALS: usize = 5;
/// Bytes of weight copies a mat-vec benchmark cycles through: over 4x the L2 cache of the GPUs
/// we measure on (H200: 60 MB; MI300X: 4 MB, with a 256 MB Infinity Cache behind it).
const ROTATION_BYTES: usize = 256 << 20;

/// What a benchmark moves or computes per launch.
#[derive(Debug, Clone, Copy)]
pub enum Work {
    Bytes(f64),
    Flops(f64),
    /// Latency-bound: only the time matters.
    Latency,
}

#[derive(Debug, Clone)]
pub struct BenchResult {
    pub name: String,
    pub micros: f64,
    pub work: Work,
}

impl BenchResult {
    /// GB/s or TFLOP/s, with its unit.
    pub fn rate(&self) -> Option<(f64, &'static str)> {
        match self.work {
            Work::Bytes(b) => Some((b / self.micros / 1e3, "GB/s")),
            Work::Flops(f) => Some((f / self.micros / 1e6, "TFLOP/s")),
            Work::Latency => None,
        }
    }
}

/// Times `launch` (one launch) as described in the module doc.
fn time(
    k: &Kernels,
    name: String,
    work: Work,
    launch: &mut dyn FnMut() -> Result<(), LaunchError>,
) -> Result<BenchResult, LaunchError> {
    let gpu = k.gpu();
    let stream = gpu.create_stream()?;
    let previous = k.stream();
    k.use_stream(stream);
    let run = || {
        launch()?; // warm-up, outside the graph
        k.synchronize()?;
        gpu.begin_capture(stream)?;
        let captured = (0..REPEAT).try_for_each(|_| launch());
        let graph = gpu.end_capture(stream)?;
        captured?;
        let (start, end) = (gpu.create_event()?, gpu.create_event()?);
        let mut trials = Vec::with_capacity(TRIALS);
        gpu.launch_graph(graph, stream)?;
        for _ in 0..TRIALS {
            gpu.record(start, stream)?;
            gpu.launch_graph(graph, stream)?;
            gpu.record(end, stream)?;
            trials.push(gpu.elapsed_ms(start, end)? as f64 * 1e3 / REPEAT as f64);
        }
        gpu.destroy_graph(graph)?;
        gpu.destroy_event(start)?;
        gpu.destroy_event(end)?;
        trials.sort_by(f64::total_cmp);
        Ok(BenchResult { name, micros: trials[TRIALS / 2], work })
    };
    let result = run();
    k.use_stream(previous);
    gpu.destroy_stream(stream)?;
    result
}

fn filled<T: DeviceElem>(gpu: &Rc<dyn Gpu>, data: &[T]) -> Result<DeviceBuffer<T>, LaunchError> {
    Ok(DeviceBuffer::from_slice(gpu, data)?)
}

fn f32s(gpu: &Rc<dyn Gpu>, label: &str, n: usize) -> Result<DeviceBuffer<f32>, LaunchError> {
    filled(gpu, &nonzero(&mut rng(label), n))
}

fn f16s(gpu: &Rc<dyn Gpu>, label: &str, n: usize) -> Result<DeviceBuffer<f16>, LaunchError> {
    filled(gpu, &to_f16(&nonzero(&mut rng(label), n)))
}

fn blocks<W: QuantBlock>(gpu: &Rc<dyn Gpu>, label: &str, n: usize) -> Result<DeviceBuffer<W>, LaunchError> {
    let bytes = quant_blocks(&mut rng(label), W::QUANT, n);
    filled(gpu, &typed_blocks::<W>(&bytes))
}

fn weight_bytes<W: QuantBlock>(n: usize) -> f64 {
    (n / W::QUANT.block_elems() as usize * size_of::<W>()) as f64
}

/// Copies of one set of random weights for `n` values: as many as launches reading `per_launch`
/// bytes each (all their matrices) take to cycle through `ROTATION_BYTES`.
fn weight_copies<W: QuantBlock>(
    gpu: &Rc<dyn Gpu>,
    label: &str,
    n: usize,
    per_launch: usize,
) -> Result<Vec<DeviceBuffer<W>>, LaunchError> {
    let blocks = typed_blocks::<W>(&quant_blocks(&mut rng(label), W::QUANT, n));
    (0..ROTATION_BYTES.div_ceil(per_launch)).map(|_| filled(gpu, &blocks)).collect()
}

/// x quantized to q8_1 on the device, as the mat-vecs read it.
fn quantized_x(k: &Kernels, cols: usize) -> Result<DeviceBuffer<BlockQ8_1>, LaunchError> {
    let x = f32s(k.gpu(), "bench x", cols)?;
    let mut xq = DeviceBuffer::<BlockQ8_1>::uninit(k.gpu(), cols / 32)?;
    quantize_q8_1::launch(k, &mut xq, &x, cols as i32, 1)?;
    Ok(xq)
}

/// y = W x at `rows` x `cols`.
fn matvec_bench<W: QuantBlock>(k: &Kernels, rows: usize, cols: usize) -> Result<BenchResult, LaunchError> {
    let bytes = weight_bytes::<W>(rows * cols);
    let w = weight_copies::<W>(k.gpu(), "bench w", rows * cols, bytes as usize)?;
    let (xq, mut y) = (quantized_x(k, cols)?, DeviceBuffer::<f32>::uninit(k.gpu(), rows)?);
    let name = format!("matvec {} {rows}x{cols}", W::QUANT);
    let mut next = 0;
    time(k, name, Work::Bytes(bytes), &mut || {
        next += 1;
        matvec::launch(k, &mut y, &w[next % w.len()], &xq, cols as i32, rows as i32)
    })
}

fn matvec_glu_bench<W: QuantBlock>(k: &Kernels, rows: usize, cols: usize) -> Result<BenchResult, LaunchError> {
    let bytes = 2.0 * weight_bytes::<W>(rows * cols);
    let gate = weight_copies::<W>(k.gpu(), "bench gate", rows * cols, bytes as usize)?;
    let up = weight_copies::<W>(k.gpu(), "bench up", rows * cols, bytes as usize)?;
    let (xq, mut y) = (quantized_x(k, cols)?, DeviceBuffer::<f32>::uninit(k.gpu(), rows)?);
    let name = format!("matvec_glu {} silu {rows}x{cols}", W::QUANT);
    let mut next = 0;
    time(k, name, Work::Bytes(bytes), &mut || {
        next += 1;
        let i = next % gate.len();
        matvec_glu::launch(k, matvec_glu::Act::Silu, &mut y, &gate[i], &up[i], &xq, cols as i32, rows as i32)
    })
}

fn dequant_bench<W: QuantBlock>(k: &Kernels, n: usize) -> Result<BenchResult, LaunchError> {
    let g = k.gpu();
    let (w, mut out) = (blocks::<W>(g, "bench w", n)?, DeviceBuffer::<f16>::uninit(g, n)?);
    let bytes = weight_bytes::<W>(n) + 2.0 * n as f64;
    time(k, format!("dequant {} {n}", W::QUANT), Work::Bytes(bytes), &mut || {
        dequant::launch(k, &mut out, &w, (n / 32) as i64)
    })
}

/// One decode step's attention for a llama-8B-like layer: 32 query heads over 8 KV heads.
fn decode_attention_bench(k: &Kernels, d: usize, kv_len: usize) -> Result<BenchResult, LaunchError> {
    let g = k.gpu();
    let (n_head, n_head_kv, split_len) = (32usize, 8usize, 256usize);
    let n_splits = kv_len.div_ceil(split_len);
    let kv_dim = n_head_kv * d;
    let (kc, vc) = (f16s(g, "bench k", kv_len * kv_dim)?, f16s(g, "bench v", kv_len * kv_dim)?);
    let q = f32s(g, "bench q", n_head * d)?;
    let mut part_o = DeviceBuffer::<f32>::uninit(g, n_head * n_splits * d)?;
    let mut part_ml = DeviceBuffer::<f32>::uninit(g, n_head * n_splits * 2)?;
    let mut out = DeviceBuffer::<f32>::uninit(g, n_head * d)?;
    let q_pos = DeviceBuffer::from_slice(g, &[kv_len as i32 - 1])?;
    let bytes = (2 * kv_len * kv_dim * 2) as f64;
    let scale = 1.0 / (d as f32).sqrt();
    let name = format!("attn_decode+reduce d{d} 32/8 heads kv {kv_len}");
    let (hd, heads, heads_kv, splits) = (d as u32, n_head as i32, n_head_kv as i32, n_splits as u32);
    time(k, name, Work::Bytes(bytes), &mut || {
        attn_decode::launch(
            k,
            hd,
            &mut part_o,
            &mut part_ml,
            &q,
            &kc,
            &vc,
            &q_pos,
            heads_kv,
            heads,
            0,
            scale,
            split_len as i32,
            splits,
        )?;
        attn_decode_reduce::launch(k, hd, &mut out, &part_o, &part_ml, n_splits as i32, n_head as u32)
    })
}

fn prefill_bench(k: &Kernels, d: usize, tokens: usize) -> Result<BenchResult, LaunchError> {
    let g = k.gpu();
    let (n_head, n_head_kv) = (32usize, 8usize);
    let kv_dim = n_head_kv * d;
    let (kc, vc) = (f16s(g, "bench k", tokens * kv_dim)?, f16s(g, "bench v", tokens * kv_dim)?);
    let q = f32s(g, "bench q", tokens * n_head * d)?;
    let mut out = DeviceBuffer::<f32>::uninit(g, tokens * n_head * d)?;
    // Causal: about half of the score matrix, two matrix products (QK^T, PV).
    let flops = 2.0 * 2.0 * (tokens * tokens) as f64 / 2.0 * (d * n_head) as f64;
    let scale = 1.0 / (d as f32).sqrt();
    let name = format!("attn_prefill d{d} 32/8 heads {tokens} tokens");
    time(k, name, Work::Flops(flops), &mut || {
        attn_prefill::launch(
            k,
            d as u32,
            &mut out,
            &q,
            &kc,
            &vc,
            tokens as i32,
            n_head_kv as i32,
            n_head as i32,
            0,
            0,
            scale,
        )
    })
}

fn gemm_bench(k: &Kernels, m: usize, n: usize, kk: usize) -> Result<BenchResult, LaunchError> {
    let g = k.gpu();
    let (a, w, mut c) =
        (f16s(g, "bench a", m * kk)?, f16s(g, "bench w", n * kk)?, DeviceBuffer::<f32>::uninit(g, m * n)?);
    let flops = 2.0 * (m * n * kk) as f64;
    time(k, format!("gemm_f16 {m}x{n}x{kk}"), Work::Flops(flops), &mut || {
        gemm_f16::launch(k, &mut c, &a, &w, m as i32, n as i32, kk as i32)
    })
}

fn latency_benches(k: &Kernels) -> Result<Vec<BenchResult>, LaunchError> {
    let g = k.gpu();
    let vocab = 151_936;
    let (x, w, logits) = (f32s(g, "bench x", 4096)?, f32s(g, "bench w", 4096)?, f32s(g, "bench logits", vocab)?);
    let (mut y, mut idx) = (DeviceBuffer::<f32>::uninit(g, 4096)?, DeviceBuffer::<i32>::uninit(g, 1)?);
    let mut xq = DeviceBuffer::<BlockQ8_1>::uninit(g, 4096 / 32)?;
    let mut out = vec![
        time(k, "rmsnorm 1x4096".into(), Work::Latency, &mut || rmsnorm::launch(k, &mut y, &x, &w, 4096, 1e-6, 1))?,
        time(k, "quantize_q8_1 1x4096".into(), Work::Latency, &mut || quantize_q8_1::launch(k, &mut xq, &x, 4096, 1))?,
        time(k, format!("argmax 1x{vocab}"), Work::Latency, &mut || {
            argmax::launch(k, &mut idx, &logits, vocab as i32, 1)
        })?,
    ];
    // Qwen's and Gemma 3's vocabulary sizes, with llama.cpp's default sampling.
    for n_vocab in [vocab, 262_144] {
        let logits = f32s(g, "bench logits", n_vocab)?;
        let mut sampler = DeviceSampler::new(g, n_vocab, 1)?;
        sampler.set_draws(&[0.5])?;
        out.push(time(k, format!("sample (topk + sample) 1x{n_vocab} k=40"), Work::Latency, &mut || {
            sampler.enqueue(k, &mut idx, &logits, &SamplerConfig::default(), 1)
        })?);
    }
    Ok(out)
}

/// The benchmark set: decode-shaped mat-vecs (llama-8B projection and FFN sizes) for the
/// formats of common models, the others at one size, the fused FFN, dequantization, decode and
/// prefill attention, the GEMM, and the latency-bound per-token kernels.
pub fn run_benches(k: &Kernels, progress: &dyn Fn(&str)) -> Result<Vec<BenchResult>, LaunchError> {
    type MatvecBench = fn(&Kernels, usize, usize) -> Result<BenchResult, LaunchError>;
    let common: [MatvecBench; 6] = [
        matvec_bench::<BlockQ4_0>,
        matvec_bench::<BlockQ4_1>,
        matvec_bench::<BlockQ5_0>,
        matvec_bench::<BlockQ8_0>,
        matvec_bench::<BlockQ4K>,
        matvec_bench::<BlockQ6K>,
    ];
    let others: [MatvecBench; 5] = [
        matvec_bench::<BlockQ5_1>,
        matvec_bench::<BlockQ2K>,
        matvec_bench::<BlockQ3K>,
        matvec_bench::<BlockQ5K>,
        matvec_bench::<BlockMxfp4>,
    ];
    let shapes = common.iter().flat_map(|b| [(*b, 4096, 4096), (*b, 14336, 4096)]);
    let mut out = Vec::new();
    for (bench, rows, cols) in shapes.chain(others.iter().map(|b| (*b, 4096, 4096))) {
        out.push(bench(k, rows, cols)?);
        progress(&out[out.len() - 1].name);
    }
    out.push(matvec_glu_bench::<BlockQ4K>(k, 14336, 4096)?);
    out.push(dequant_bench::<BlockQ4K>(k, 4096 * 4096)?);
    for kv_len in [4096, 32768] {
        out.push(decode_attention_bench(k, 128, kv_len)?);
    }
    out.push(prefill_bench(k, 128, 512)?);
    out.push(prefill_bench(k, 128, 2048)?);
    out.push(gemm_bench(k, 512, 4096, 4096)?);
    out.extend(latency_benches(k)?);
    Ok(out)
}

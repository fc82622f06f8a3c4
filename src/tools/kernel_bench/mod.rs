//! Kernel speed on a GPU: each benchmark launches through the typed launchers, captured as a
//! graph of `REPEAT` launches on a stream, replayed and timed with events, so launch overhead
//! is out of the figure. Bandwidth-bound kernels report GB/s (weights, KV cache and activations
//! read and written once), compute-bound ones TFLOP/s. The mat-vecs cycle through copies of
//! their weights larger than the L2 cache together, one copy per launch, so their rate is
//! DRAM's, as in decode, where each layer's weights are read once per token; they count the
//! weight bytes only.

mod attention;
mod matvecs;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::rc::Rc;

use crate::tools::parity::inputs::{nonzero, quant_blocks, rng, to_f16, typed_blocks};
use crate::tools::tune::combinations;
use attention::{decode_attention_bench, prefill_bench};
use matvecs::{matvec_batch_bench, matvec_bench, matvec_glu_bench, matvec_multi_bench, read_peak_bench};
pub use matvecs::{matvec_bench_at, matvec_glu_bench_at, matvec_multi_bench_at};
use rocmforge::backend::gpu::engine::{split_k_extent, DeviceSampler};
use rocmforge::backend::gpu::launchers::{
    argmax, attn_decode, attn_prefill, dequant, gemm_f16, matvec, matvec_batch, matvec_glu, matvec_multi, mma_peak,
    quantize_q8_1, read_peak, rmsnorm, sample,
};
use rocmforge::backend::gpu::tuning::{Choice, GemmShape};
use rocmforge::backend::gpu::{
    f16, BlockQ8_1, DeviceBuffer, DeviceElem, Gpu, Kernels, LaunchError, Quant, QuantBlock, StreamHandle, ViewMut,
};
use rocmforge::engine::sampler::SamplerConfig;
use rocmforge::quant::blocks::*;

/// Launches per captured graph.
const REPEAT: usize = 100;
/// Timed replays of the graph; the median is reported.
const TRIALS: usize = 5;
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
    /// A one-token mat-vec's ceiling: the µs of a dependent launch that only reads the same
    /// bytes, as the mat-vec loads its weights (`read_peak`).
    pub ceiling: Option<f64>,
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

/// Times `launch` (one launch on the stream it is given) as described in the module doc.
fn time(
    k: &Kernels,
    name: String,
    work: Work,
    launch: &mut dyn FnMut(StreamHandle) -> Result<(), LaunchError>,
) -> Result<BenchResult, LaunchError> {
    let gpu = k.gpu();
    let stream = gpu.create_stream()?;
    let run = || {
        launch(stream)?; // warm-up, outside the graph
        gpu.synchronize(stream)?;
        gpu.begin_capture(stream)?;
        let captured = (0..REPEAT).try_for_each(|_| launch(stream));
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
        Ok(BenchResult { name, micros: trials[TRIALS / 2], work, ceiling: None })
    };
    let result = run();
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

/// Random blocks of `n` weights in the device's order of the format's fields, as the engine
/// uploads weights.
fn device_blocks<W: QuantBlock>(label: &str, n: usize) -> Vec<W> {
    typed_blocks::<W>(&W::QUANT.to_device_layout(&quant_blocks(&mut rng(label), W::QUANT, n)))
}

fn blocks<W: QuantBlock>(gpu: &Rc<dyn Gpu>, label: &str, n: usize) -> Result<DeviceBuffer<W>, LaunchError> {
    filled(gpu, &device_blocks::<W>(label, n))
}

fn weight_bytes<W: QuantBlock>(n: usize) -> f64 {
    (n / W::QUANT.block_elems() as usize * size_of::<W>()) as f64
}

/// The device's copy rate: device-to-device copies of `bytes`, counted as read plus written, the
/// yardstick of the bandwidth-bound kernels in the same run. Enqueued on a stream rather than
/// replayed from a graph: a graph's copy node is slower (2.8 against 4.2 TB/s on an H200).
fn copy_bench(k: &Kernels, bytes: usize) -> Result<BenchResult, LaunchError> {
    let g = k.gpu();
    let n = bytes / size_of::<f32>();
    let (src, mut dst) = (DeviceBuffer::<f32>::uninit(g, n)?, DeviceBuffer::<f32>::uninit(g, n)?);
    let (stream, start, end) = (g.create_stream()?, g.create_event()?, g.create_event()?);
    let mut trial = || -> Result<f64, LaunchError> {
        g.record(start, stream)?;
        for _ in 0..COPIES {
            dst.copy_from(stream, 0, &src, 0, n)?;
        }
        g.record(end, stream)?;
        Ok(g.elapsed_ms(start, end)? as f64 * 1e3 / COPIES as f64)
    };
    let trials: Result<Vec<f64>, _> = (0..=TRIALS).map(|_| trial()).collect(); // the first warms up
    g.destroy_event(start)?;
    g.destroy_event(end)?;
    g.destroy_stream(stream)?;
    let mut trials = trials?.split_off(1);
    trials.sort_by(f64::total_cmp);
    let name = format!("device copy {} MiB", bytes >> 20);
    Ok(BenchResult { name, micros: trials[TRIALS / 2], work: Work::Bytes(2.0 * bytes as f64), ceiling: None })
}

fn dequant_bench<W: QuantBlock>(k: &Kernels, n: usize) -> Result<BenchResult, LaunchError> {
    let g = k.gpu();
    let (w, mut out) = (blocks::<W>(g, "bench w", n)?, DeviceBuffer::<f16>::uninit(g, n)?);
    let bytes = weight_bytes::<W>(n) + 2.0 * n as f64;
    let kernel = dequant::Kernel::<W>::resolve(k)?;
    time(k, format!("dequant {} {n}", W::QUANT), Work::Bytes(bytes), &mut |s| {
        kernel.launch(s, dequant::Args { out: out.view_mut(), w: w.view(), n_sub: (n / 32) as i64 })
    })
}

/// The name of the matrix-rate benchmark's result.
pub const MATRIX_RATE: &str = "mma_peak f16 matrix rate";

/// The device's matrix rate: `mma_peak` (the GEMM's matrix instruction on operands held on
/// chip) on enough workgroups to fill every compute unit many times over.
fn matrix_peak_bench(k: &Kernels) -> Result<BenchResult, LaunchError> {
    let (groups, reps) = (4096usize, 256usize);
    let g = k.gpu();
    use rocmforge_codegen::kernels::mma_peak::{flops_per_rep, K};
    let (a, b) = (f16s(g, "bench a", K as usize)?, f16s(g, "bench b", K as usize)?);
    let mut c = DeviceBuffer::<f32>::uninit(g, groups)?;
    let flops = (groups * reps) as f64 * flops_per_rep(k.target()) as f64;
    let kernel = mma_peak::Kernel::resolve(k)?;
    time(k, MATRIX_RATE.into(), Work::Flops(flops), &mut |s| {
        let args =
            mma_peak::Args { c: c.view_mut(), a: a.view(), b: b.view(), reps: reps as i32, n_groups: groups as u32 };
        kernel.launch(s, args)
    })
}

/// The GEMM at `shape`, with the tuning axes of `choice` (else the family's defaults; the name
/// then says so).
pub fn gemm_bench_at(k: &Kernels, shape: GemmShape, choice: Option<&Choice>) -> Result<BenchResult, LaunchError> {
    let g = k.gpu();
    let [m, n, kk] = [shape.m, shape.n, shape.k].map(|v| v as usize);
    // Operands set on the device (1.05 in every half): the matrix units' speed does not depend
    // on the values, and an LM head's weights would take seconds to draw on the host.
    let (mut a, mut w) = (DeviceBuffer::<f16>::uninit(g, m * kk)?, DeviceBuffer::<f16>::uninit(g, n * kk)?);
    a.fill_bytes(0x3C)?;
    w.fill_bytes(0x3C)?;
    let mut c = DeviceBuffer::<f32>::uninit(g, m * n)?;
    let defaults = k.tuning_defaults(gemm_f16::FAMILY, None)?;
    let splits = choice.unwrap_or(&defaults).get("splits");
    let extent = |param| split_k_extent(k, param, splits, shape.m, shape.n);
    let mut partials = DeviceBuffer::<f32>::uninit(g, extent("partials")?)?;
    let mut counters = DeviceBuffer::<u32>::uninit(g, extent("counters")?)?;
    counters.fill_bytes(0)?;
    let flops = 2.0 * (m * n * kk) as f64;
    let kernel = gemm_f16::Kernel::resolve(k, splits)?;
    let name = match choice {
        Some(_) => format!("gemm_f16 {m}x{n}x{kk} splits={splits}"),
        None => format!("gemm_f16 {m}x{n}x{kk}"),
    };
    time(k, name, Work::Flops(flops), &mut |s| {
        let (c, c_b, c_c) = (c.view_mut(), ViewMut::empty(), ViewMut::empty());
        let (partials, counters) = (partials.view_mut(), counters.view_mut());
        let (m, n, k, n_b, n_c) = (m as i32, n as i32, kk as i32, 0, 0);
        let args = gemm_f16::Args { c, c_b, c_c, a: a.view(), w: w.view(), partials, counters, m, n, k, n_b, n_c };
        kernel.launch(s, args)
    })
}

fn latency_benches(k: &Kernels) -> Result<Vec<BenchResult>, LaunchError> {
    let g = k.gpu();
    let vocab = 151_936;
    let (x, w, logits) = (f32s(g, "bench x", 4096)?, f32s(g, "bench w", 4096)?, f32s(g, "bench logits", vocab)?);
    let (mut y, mut idx) = (DeviceBuffer::<f32>::uninit(g, 4096)?, DeviceBuffer::<i32>::uninit(g, 1)?);
    let mut xq = DeviceBuffer::<BlockQ8_1>::uninit(g, 4096 / 32)?;
    let (norm, quantize, argmax) =
        (rmsnorm::Kernel::resolve(k)?, quantize_q8_1::Kernel::resolve(k)?, argmax::Kernel::resolve(k)?);
    let mut out = vec![
        time(k, "rmsnorm 1x4096".into(), Work::Latency, &mut |s| {
            norm.launch(s, rmsnorm::Args { y: y.view_mut(), x: x.view(), w: w.view(), n: 4096, eps: 1e-6, n_rows: 1 })
        })?,
        time(k, "quantize_q8_1 1x4096".into(), Work::Latency, &mut |s| {
            quantize.launch(s, quantize_q8_1::Args { xq: xq.view_mut(), x: x.view(), n_cols: 4096, n_rows: 1 })
        })?,
        time(k, format!("argmax 1x{vocab}"), Work::Latency, &mut |s| {
            argmax.launch(s, argmax::Args { out: idx.view_mut(), x: logits.view(), n: vocab as i32, n_rows: 1 })
        })?,
    ];
    // Qwen's and Gemma 3's vocabulary sizes, with llama.cpp's default sampling.
    for n_vocab in [vocab, 262_144] {
        let logits = f32s(g, "bench logits", n_vocab)?;
        let mut sampler = DeviceSampler::new(k, n_vocab, 1)?;
        sampler.set_draws(&[0.5])?;
        out.push(time(k, format!("sample (topk + sample) 1x{n_vocab} k=40"), Work::Latency, &mut |s| {
            sampler.enqueue(s, &mut idx, &logits, &SamplerConfig::default(), 1)
        })?);
    }
    Ok(out)
}

/// The size of the copy that measures the device's copy rate, and the copies per trial.
const COPY_BYTES: usize = 1 << 30;
const COPIES: usize = 10;

/// The kernel families `run_benches` times: a filter must match one.
pub const BENCHED: [&str; 14] = [
    matvec::FAMILY,
    matvec_glu::FAMILY,
    matvec_multi::FAMILY,
    matvec_batch::FAMILY,
    read_peak::FAMILY,
    dequant::FAMILY,
    attn_decode::FAMILY,
    mma_peak::FAMILY,
    attn_prefill::FAMILY,
    gemm_f16::FAMILY,
    rmsnorm::FAMILY,
    quantize_q8_1::FAMILY,
    argmax::FAMILY,
    sample::FAMILY,
];

/// The benchmark set: the device's copy rate, decode-shaped mat-vecs (llama-8B projection and
/// FFN sizes) for the formats of common models, the others at one size, the fused FFN, each
/// one-token mat-vec with its ceiling (`read_peak` at its weight bytes), dequantization, decode
/// attention, the matrix rate, prefill attention, the GEMM, and the latency-bound per-token
/// kernels. Only the families whose name contains `filter` run (all for ""); the copy always
/// runs, as the yardstick of the rest.
pub fn run_benches(
    k: &Kernels,
    filter: &str,
    every_tuning: bool,
    progress: &dyn Fn(&str),
) -> Result<Vec<BenchResult>, LaunchError> {
    type MatvecBench = fn(&Kernels, usize, usize, Option<&Choice>) -> Result<BenchResult, LaunchError>;
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
    // The common formats at llama-8B's projection and FFN sizes.
    let common_shapes = || common.iter().flat_map(|b| [(*b, 4096, 4096), (*b, 14336, 4096)]);
    let want = |family: &str| family.contains(filter);
    let mut out = vec![copy_bench(k, COPY_BYTES)?];
    let mut push = |r: BenchResult| {
        progress(&r.name);
        out.push(r);
    };
    // The one-token mat-vecs' ceilings, by weight bytes.
    let mut ceilings = HashMap::new();
    let mut with_ceiling = |r: BenchResult| -> Result<BenchResult, LaunchError> {
        let Work::Bytes(bytes) = r.work else { return Ok(r) };
        let us = match ceilings.entry(bytes as usize) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => *e.insert(read_peak_bench(k, bytes as usize)?.micros),
        };
        Ok(BenchResult { ceiling: Some(us), ..r })
    };
    if want(matvec::FAMILY) && every_tuning {
        // Any format's defaults name the axes whose values combine.
        let axes = k.tuning_defaults(matvec::FAMILY, Some(Quant::Q4_0))?;
        for choice in combinations(matvec::FAMILY, &axes) {
            let named: Vec<String> = choice.values().iter().map(|(axis, v)| format!("{axis}={v}")).collect();
            for (bench, rows, cols) in common_shapes() {
                let mut r = with_ceiling(bench(k, rows, cols, Some(&choice))?)?;
                r.name = format!("{} {}", r.name, named.join(" "));
                push(r);
            }
        }
    }
    if want(matvec::FAMILY) {
        for (bench, rows, cols) in common_shapes().chain(others.iter().map(|b| (*b, 4096, 4096))) {
            push(with_ceiling(bench(k, rows, cols, None)?)?);
        }
        push(with_ceiling(matvec_bench::<BlockQ4_0>(k, 1024, 4096, None)?)?);
        push(with_ceiling(matvec_bench::<BlockQ4K>(k, 1024, 4096, None)?)?);
    }
    if want(matvec_glu::FAMILY) {
        push(with_ceiling(matvec_glu_bench::<BlockQ4K>(k, 14336, 4096)?)?);
    }
    if want(matvec_multi::FAMILY) {
        // Q, K and V of a llama-8B layer in one launch, against the three matvecs above.
        push(with_ceiling(matvec_multi_bench::<BlockQ4_0>(k, [4096, 1024, 1024], 4096)?)?);
        push(with_ceiling(matvec_multi_bench::<BlockQ4K>(k, [4096, 1024, 1024], 4096)?)?);
    }
    if want(matvec_batch::FAMILY) {
        // Passes of several sequences decoding: the batched mat-vec against the GEMM path at the
        // same sizes (dequantization + gemm_f16, below).
        for tokens in [2, 8, 32, 64] {
            push(matvec_batch_bench::<BlockQ4_0>(k, tokens, 4096, 4096)?);
            push(matvec_batch_bench::<BlockQ4K>(k, tokens, 4096, 4096)?);
        }
        push(matvec_batch_bench::<BlockQ6K>(k, 32, 4096, 4096)?);
    }
    if want(read_peak::FAMILY) {
        // The reads of a Q4_0 (or Q4_K) 4096x4096 and 14336x4096 mat-vec.
        for rows in [4096, 14336] {
            push(read_peak_bench(k, weight_bytes::<BlockQ4_0>(rows * 4096) as usize)?);
        }
    }
    if want(dequant::FAMILY) {
        push(dequant_bench::<BlockQ4_0>(k, 4096 * 4096)?);
        push(dequant_bench::<BlockQ4K>(k, 4096 * 4096)?);
        push(dequant_bench::<BlockQ6K>(k, 4096 * 4096)?);
        push(dequant_bench::<BlockQ4K>(k, 14336 * 4096)?);
    }
    if want(attn_decode::FAMILY) {
        for kv_len in [4096, 32768] {
            push(decode_attention_bench(k, 128, kv_len)?);
        }
    }
    // The yardstick of the matrix-unit kernels below.
    if [mma_peak::FAMILY, attn_prefill::FAMILY, gemm_f16::FAMILY].iter().any(|f| want(f)) {
        push(matrix_peak_bench(k)?);
    }
    if want(attn_prefill::FAMILY) {
        push(prefill_bench(k, 128, 512, 0)?);
        push(prefill_bench(k, 128, 2048, 0)?);
        push(prefill_bench(k, 128, 512, 4096)?);
    }
    if want(gemm_f16::FAMILY) {
        // A short prompt's and a full pass's projections of llama 8B, its FFN and down projection.
        let shape = |m, n, k| GemmShape { m, n, k };
        let shapes = [shape(64, 4096, 4096), shape(512, 4096, 4096), shape(512, 14336, 4096), shape(512, 4096, 14336)];
        for shape in shapes {
            push(gemm_bench_at(k, shape, None)?);
        }
        if every_tuning {
            let defaults = k.tuning_defaults(gemm_f16::FAMILY, None)?;
            for choice in combinations(gemm_f16::FAMILY, &defaults) {
                for shape in shapes {
                    push(gemm_bench_at(k, shape, Some(&choice))?);
                }
            }
        }
    }
    if [rmsnorm::FAMILY, quantize_q8_1::FAMILY, argmax::FAMILY, sample::FAMILY].iter().any(|f| want(f)) {
        latency_benches(k)?.into_iter().for_each(&mut push);
    }
    Ok(out)
}

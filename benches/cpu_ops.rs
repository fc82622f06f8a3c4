//! CPU kernels at the test model's shapes: quantized matmul for decode (1 token) and prefill
//! (64 tokens) per weight type, and attention over a 512-position cache.
//! `cargo bench --bench cpu_ops`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::f16;
use rocmforge::backend::cpu::{attention, matmul, AttentionShape, KvRows, MatmulScratch, QMatrix, SumOrder};
use rocmforge::backend::KV_BLOCK;
use rocmforge::gguf::GgmlType;
use rocmforge::quant;

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| (((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / (1 << 24) as f32) - 0.5)
        .collect()
}

/// Weights: quantized random values where the type has a quantizer, otherwise (K-quants,
/// codebooks) random bytes; the integer kernels take the same time whatever the values are.
fn weights(ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let v = values(rows * cols, 7);
    let n_bytes = ty.bytes_for(v.len() as u64).expect("whole blocks") as usize;
    let mut out = vec![0u8; n_bytes];
    if quant::quantize_row(ty, &v, &mut out).is_err() {
        out = (0..n_bytes).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2]).collect();
        if ty == GgmlType::Mxfp4 {
            // Scales of real weights (2^-7..2^0), not random exponents: subnormal products
            // would time the FPU's slow path.
            for (i, block) in out.chunks_exact_mut(ty.block_bytes()).enumerate() {
                block[0] = 120 + (i % 8) as u8;
            }
        }
    }
    out
}

fn bench_matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul");
    for (ty, rows, cols) in [
        (GgmlType::Q8_0, 16384, 640),
        (GgmlType::Q5_0, 2048, 640),
        (GgmlType::Q4_0, 2048, 640),
        (GgmlType::Q4_1, 2048, 640),
        (GgmlType::Q5_1, 2048, 640),
        (GgmlType::Iq4Nl, 2048, 640),
        (GgmlType::Mxfp4, 2048, 640),
        (GgmlType::Q4K, 640, 2048),
        (GgmlType::Q6K, 640, 2048),
        (GgmlType::Iq4Xs, 640, 2048),
    ] {
        let w = weights(ty, rows, cols);
        let m = QMatrix { ty, data: &w, rows, cols };
        for n_tokens in [1usize, 64] {
            let x = values(n_tokens * cols, 3);
            let mut out = vec![0.0; n_tokens * rows];
            let mut scratch = MatmulScratch::default();
            g.throughput(Throughput::Bytes((w.len() * n_tokens) as u64));
            g.bench_function(BenchmarkId::new(format!("{ty}_{rows}x{cols}"), n_tokens), |b| {
                b.iter(|| matmul(m, &x, n_tokens, SumOrder::Fastest, &mut out, &mut scratch).expect("matmul"))
            });
        }
    }
    g.finish();
}

fn bench_attention(c: &mut Criterion) {
    let (n_head, n_head_kv, hd, n_pos) = (4, 1, 256, 512);
    let kv: Vec<f16> = values(n_pos * n_head_kv * hd, 1).iter().map(|&v| f16::from_f32(v)).collect();
    let shape = AttentionShape { n_head, n_head_kv, head_dim: hd, window: None, scale: 1.0 };
    let table: Vec<u32> = (0..n_pos.div_ceil(KV_BLOCK) as u32).collect();
    let rows = KvRows { keys: &kv, values: &kv, table: &table, kv_dim: n_head_kv * hd };
    let mut g = c.benchmark_group("attention");
    for n_q in [1usize, 64] {
        let q = values(n_q * n_head * hd, 2);
        let mut out = vec![0.0; q.len()];
        g.bench_function(BenchmarkId::new("gemma3_512ctx", n_q), |b| {
            b.iter(|| attention(&q, rows, n_pos - n_q, &shape, SumOrder::Fastest, &mut out))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_matmul, bench_attention);
criterion_main!(benches);

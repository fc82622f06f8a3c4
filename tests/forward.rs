//! The decoder on synthetic models of each architecture: one batch of N tokens must give the
//! same logits as N single-token steps through the KV cache (rope positions, cache layout,
//! causal and sliding-window masks all have to agree for that).

mod common;

use common::{rel_err, Synth};
use rocmforge::backend::cpu::{CpuDevice, CpuExecutor, SumOrder};
use rocmforge::backend::{Batch, Executor, KvUsage, KV_BLOCK};
use rocmforge::gguf::GgmlType;
use rocmforge::model::Model;

fn model(s: &Synth) -> Model {
    s.model()
}

fn cpu() -> CpuDevice {
    CpuDevice::new(2).unwrap()
}

fn exec<'m>(m: &'m Model, cpu: &'m CpuDevice, n_ctx: usize) -> CpuExecutor<'m> {
    CpuExecutor::new(m, cpu, n_ctx, 1).unwrap()
}

fn batch_equals_steps(s: &Synth) {
    batch_equals_steps_summing(s, SumOrder::Fastest, 1e-5);
}

/// The batch and the steps summed in `order`; `tol`: the relative error allowed.
fn batch_equals_steps_summing(s: &Synth, order: SumOrder, tol: f64) {
    let (m, cpu) = (model(s), cpu());
    let tokens: Vec<u32> = (0..13).map(|i| (i * 7 + 3) % s.n_vocab as u32).collect();
    let mut batch = exec(&m, &cpu, 32).summing(order);
    batch.forward(&Batch::sequence(&tokens, 0, 0, 0)).unwrap();
    let all = batch.logits(0..tokens.len()).unwrap();
    assert!(all.iter().all(|v| v.is_finite()));

    let mut step = exec(&m, &cpu, 32).summing(order);
    for (i, &t) in tokens.iter().enumerate() {
        let one = step.forward_last(&[t]).unwrap();
        let want = &all[i * s.n_vocab..(i + 1) * s.n_vocab];
        let e = rel_err(&one, want);
        assert!(e < tol, "{} position {i}: relative error {e}", s.arch);
    }
    // Different positions must give different logits (rope and attention are in play).
    assert!(rel_err(&all[..s.n_vocab], &all[s.n_vocab..2 * s.n_vocab]) > 1e-3);
}

#[test]
fn llama_batch_equals_steps() {
    batch_equals_steps(&Synth::tiny("llama"));
}

#[test]
fn qwen2_batch_equals_steps() {
    batch_equals_steps(&Synth::tiny("qwen2"));
}

#[test]
fn gemma3_with_sliding_window_batch_equals_steps() {
    batch_equals_steps(&Synth { n_layer: 6, sliding_window: Some(4), ..Synth::tiny("gemma3") });
}

#[test]
fn quantized_llama_batch_equals_steps() {
    let s = Synth { matrix_type: GgmlType::Q8_0, ..Synth::tiny("llama") };
    // Batch-invariant sums take every batch size alike: bitwise the steps' kernels, and so the
    // graph (positions, cache, masks) is checked alone.
    batch_equals_steps_summing(&s, SumOrder::BatchInvariant, 1e-5);
    // The fastest batch kernels round otherwise (the panel GEMM, where this CPU has it): the
    // logits agree to 1e-7 but where a rounding moves an activation's Q8_0 step (one position
    // here, 0.9 %); a wrong position or mask is off by 70 % or more.
    batch_equals_steps_summing(&s, SumOrder::Fastest, 3e-2);
}

#[test]
fn sliding_window_changes_the_result() {
    let full = model(&Synth { n_layer: 6, ..Synth::tiny("gemma3") });
    let windowed = model(&Synth { n_layer: 6, sliding_window: Some(4), ..Synth::tiny("gemma3") });
    let cpu = cpu();
    let tokens: Vec<u32> = (0..10).map(|i| 3 + i).collect();
    let a = exec(&full, &cpu, 16).forward_last(&tokens).unwrap();
    let b = exec(&windowed, &cpu, 16).forward_last(&tokens).unwrap();
    assert!(rel_err(&a, &b) > 1e-4, "a 4-token window over 10 tokens must matter");
    // Within the window the two agree.
    let a = exec(&full, &cpu, 16).forward_last(&tokens[..4]).unwrap();
    let b = exec(&windowed, &cpu, 16).forward_last(&tokens[..4]).unwrap();
    assert!(rel_err(&a, &b) < 1e-6);
}

#[test]
fn context_overflow_and_bad_token_are_errors() {
    let (m, cpu) = (model(&Synth::tiny("llama")), cpu());
    let mut e = exec(&m, &cpu, 4);
    let err = e.forward_last(&[1, 2, 3, 4, 5]).unwrap_err();
    assert!(err.to_string().contains("context is full"), "{err}");
    let err = e.forward_last(&[1000]).unwrap_err();
    assert!(err.to_string().contains("outside the vocabulary"), "{err}");
}

#[test]
fn two_sequences_in_one_batch_equal_each_alone() {
    let (m, cpu) = (model(&Synth::tiny("qwen2")), cpu());
    let (a, b): (Vec<u32>, Vec<u32>) = ((0..7).map(|i| 5 + i).collect(), (0..4).map(|i| 40 + 3 * i).collect());
    let alone = |t: &[u32]| exec(&m, &cpu, 16).forward_last(t).unwrap();
    let mut both = CpuExecutor::new(&m, &cpu, 16, 2).unwrap();
    let mut batch = Batch::sequence(&a, 0, 0, a.len() - 1);
    for (i, &t) in b.iter().enumerate() {
        batch.push(t, i, 1, i == b.len() - 1);
    }
    both.forward(&batch).unwrap();
    let logits = both.logits(0..2).unwrap();
    let n = m.config.n_vocab;
    assert!(rel_err(&logits[..n], &alone(&a)) < 1e-6);
    assert!(rel_err(&logits[n..], &alone(&b)) < 1e-6);
}

/// A prefix shared from another sequence's KV blocks (`share_prefix`) gives what computing it
/// again gives, for both sequences, as they go on writing: the sharer into a copy of the block
/// it shares in part, the owner into its own. Batch-invariant sums make the two ways bitwise
/// comparable.
#[test]
fn a_shared_prefix_equals_the_prefix_computed_again() {
    let (m, cpu) = (model(&Synth::tiny("llama")), cpu());
    let n = m.config.n_vocab;
    let tok = |i: u32| (i * 13 + 2) % n as u32;
    let (a, b, c): (Vec<u32>, Vec<u32>, Vec<u32>) =
        ((0..37).map(tok).collect(), (50..55).map(tok).collect(), (60..63).map(tok).collect());
    let shared = KV_BLOCK + 5; // a block and a piece of the next
    let new_exec = || CpuExecutor::new(&m, &cpu, 64, 2).unwrap().summing(SumOrder::BatchInvariant);

    let mut e = new_exec();
    e.forward(&Batch::sequence(&a, 0, 0, a.len() - 1)).unwrap();
    e.share_prefix(0, 1, shared);
    assert_eq!(e.seq_len(1), shared);
    assert_eq!(e.kv_blocks().table(1), &e.kv_blocks().table(0)[..2]);
    let mut both = Batch::sequence(&b, shared, 1, b.len() - 1);
    for (i, &t) in c.iter().enumerate() {
        both.push(t, a.len() + i, 0, i == c.len() - 1);
    }
    e.forward(&both).unwrap();
    let got = e.logits(0..2).unwrap();
    // The sharer copied the block it shares in part; the first block is still shared.
    assert_eq!(e.kv_blocks().table(1)[0], e.kv_blocks().table(0)[0]);
    assert_ne!(e.kv_blocks().table(1)[1], e.kv_blocks().table(0)[1]);
    assert_eq!(e.kv_blocks().usage(|_| true), KvUsage { running: 4, cached: 0, free: 4 });

    let alone = |tokens: Vec<u32>| new_exec().forward_last(&tokens).unwrap();
    assert_eq!(got[..n], alone([&a[..shared], &b].concat())[..], "the sharer");
    assert_eq!(got[n..], alone([&a[..], &c].concat())[..], "the owner");
}

/// Batch-invariant sums on a quantized model (the panel GEMM's sums at every batch size, where
/// this CPU has it): two sequences' prompts and a decoding token in one batch give each
/// sequence, bit for bit, what it gets alone, its prompt in one piece.
#[test]
fn batch_invariant_sums_mix_prompt_and_decode_tokens() {
    let m = model(&Synth { matrix_type: GgmlType::Q8_0, ..Synth::tiny("llama") });
    let cpu = cpu();
    let n = m.config.n_vocab;
    let new_exec = || CpuExecutor::new(&m, &cpu, 64, 2).unwrap().summing(SumOrder::BatchInvariant);
    let tok = |i: u32| (i * 11 + 5) % n as u32;
    let (a, b): (Vec<u32>, Vec<u32>) = ((0..20).map(tok).collect(), (30..41).map(tok).collect());

    let mut e = new_exec();
    e.forward(&Batch::sequence(&a[..19], 0, 0, 18)).unwrap();
    let mut mixed = Batch::sequence(&b, 0, 1, b.len() - 1);
    mixed.push(a[19], 19, 0, true);
    e.forward(&mixed).unwrap();
    let got = e.logits(0..2).unwrap();

    let alone = |tokens: &[u32]| new_exec().forward_last(tokens).unwrap();
    assert_eq!(got[..n], alone(&b)[..], "the prompt");
    assert_eq!(got[n..], alone(&a)[..], "the decoding token");
}

#[test]
fn a_cache_larger_than_memory_is_an_error_not_an_abort() {
    let (m, cpu) = (model(&Synth::tiny("llama")), cpu());
    let err = CpuExecutor::new(&m, &cpu, usize::MAX / 4, 1).err().expect("no machine has that memory");
    assert!(err.to_string().contains("needs"), "{err}");
}

#[test]
fn an_empty_batch_and_rows_beyond_the_outputs_are_errors() {
    let (m, cpu) = (model(&Synth::tiny("llama")), cpu());
    let mut e = exec(&m, &cpu, 8);
    assert!(e.forward(&Batch::new()).unwrap_err().to_string().contains("no tokens"));
    e.forward(&Batch::sequence(&[1, 2], 0, 0, 1)).unwrap();
    assert!(e.logits(0..2).unwrap_err().to_string().contains("1 output rows"));
}

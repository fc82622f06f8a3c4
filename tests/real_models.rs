//! Real models of the llama and qwen2 architectures against llama.cpp's outputs
//! (`tests/fixtures/real-models/`): greedy ids under the near-tie rule, perplexity within 1 %
//! on the GPL-3 text, and the chat template. The models are fetched into the cache on first use.
//! SmolLM2 also runs through the GPU executor on the CPU's kernel simulator with gfx942's
//! (wave64) kernels, for a stretch of its greedy text (the simulator does about a token a
//! second).

mod common;

use rocmforge::backend::gpu::GpuKind;
use rocmforge::backend::DeviceSpec;
use rocmforge::engine::chat::Message;
use rocmforge::engine::sampler::argmax;
use rocmforge::engine::Engine;
use rocmforge::fetch::{cached_model, KnownModel, QWEN25_CODER_05B, SMOLLM2_135M_Q4_1};
use serde_json::Value;

/// A first divergence from llama.cpp is accepted only where its top two tokens are closer than
/// this (in logprob) and ours is one of them: llama.cpp's own builds and paths disagree there
/// (see the fixtures' README).
const NEAR_TIE: f64 = 0.25;

fn engine(model: &KnownModel) -> Engine {
    let path = cached_model(model).unwrap_or_else(|e| panic!("{} is needed and could not be fetched: {e}", model.name));
    Engine::load(path, 0).expect("the model loads")
}

fn reference(name: &str) -> Value {
    let text = std::fs::read_to_string(common::fixture(&format!("real-models/{name}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Greedy continuation of every case of `file`; fails on a divergence that is not one of
/// llama.cpp's near-ties. Returns how many cases diverged at a near-tie.
fn greedy_matches_llama_cpp(engine: &Engine, file: &str) -> usize {
    let refs = reference(file);
    refs["cases"].as_array().unwrap().iter().filter(|case| !greedy_case_matches(engine, case, usize::MAX)).count()
}

/// The first `max_steps` greedy ids of one case; fails on a divergence that is not one of
/// llama.cpp's near-ties. False if it diverged at a near-tie.
fn greedy_case_matches(engine: &Engine, case: &Value, max_steps: usize) -> bool {
    let name = case["name"].as_str().unwrap();
    let prompt_ids = engine.tokenizer.encode(case["prompt"].as_str().unwrap(), true, true);
    assert_eq!(prompt_ids, ids(&case["prompt_ids"]), "{name}: prompt tokens");
    let want = ids(&case["ids"]);
    let want = &want[..want.len().min(max_steps)];
    let mut exec = engine.executor(prompt_ids.len() + want.len(), 1).unwrap();
    let mut next = argmax(&exec.forward_last(&prompt_ids).unwrap());
    for (step, &wanted) in want.iter().enumerate() {
        if next != wanted {
            let s = &case["steps"][step];
            let (top, margin) = (ids(&s["top"]), s["margin"].as_f64().unwrap());
            assert!(
                top.contains(&next) && margin < NEAR_TIE,
                "{name}: step {step}: ours {next}, llama.cpp {wanted} (its top two {top:?}, margin {margin})"
            );
            eprintln!("{name}: near-tie at step {step}: ours {next}, llama.cpp {wanted}, margin {margin}");
            return false;
        }
        next = argmax(&exec.forward_last(&[next]).unwrap());
    }
    true
}

fn perplexity_matches_llama_cpp(engine: &Engine, reference: f64) {
    let mut text = std::fs::read_to_string(common::fixture("gemma3-270m/gpl-3.txt")).unwrap();
    text.pop(); // llama.cpp's -f drops one trailing newline
    let r = engine.perplexity(&text, 512, 2048, None, |_, _| {}).unwrap();
    assert_eq!(r.n_chunks, 14);
    let rel = (r.ppl - reference).abs() / reference;
    eprintln!("perplexity {:.4} +/- {:.5} vs llama.cpp {reference} ({:.3} %)", r.ppl, r.ppl_std, rel * 100.0);
    assert!(rel < 0.01, "perplexity {} is not within 1 % of llama.cpp's {reference}", r.ppl);
}

#[test]
fn smollm2_llama_architecture() {
    let engine = engine(&SMOLLM2_135M_Q4_1);
    greedy_matches_llama_cpp(&engine, "smollm2-greedy.json");
    perplexity_matches_llama_cpp(&engine, 18.3914);
    assert_eq!(
        engine.chat_prompt(&[Message::user("Why is the sky blue?")]).unwrap(),
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn qwen2_architecture() {
    let engine = engine(&QWEN25_CODER_05B);
    greedy_matches_llama_cpp(&engine, "qwen2.5-coder-greedy.json");
    perplexity_matches_llama_cpp(&engine, 5.3184);
    assert_eq!(
        engine.chat_prompt(&[Message::user("Write FizzBuzz in Python.")]).unwrap(),
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n\
         <|im_start|>user\nWrite FizzBuzz in Python.<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn smollm2_on_simulated_gfx942_follows_llama_cpp() {
    if !common::simulator_available() {
        return;
    }
    let model = &SMOLLM2_135M_Q4_1;
    let path = cached_model(model).unwrap_or_else(|e| panic!("{} is needed and could not be fetched: {e}", model.name));
    // sim:1 is gfx942: wave64, its mat-vec, attention and sampling kernels.
    let engine = Engine::load_on(path, 1, DeviceSpec::Gpu { kind: GpuKind::Sim, ordinal: 1 }).expect("the model loads");
    assert!(engine.on_gpu());
    let refs = reference("smollm2-greedy.json");
    let fruits = refs["cases"].as_array().unwrap().iter().find(|c| c["name"] == "raw_fruits").expect("the case");
    // 16 steps take in llama.cpp's near-tie at step 11 (margin 0.047), where gfx942's kernels
    // take its runner-up (the CPU and the H200 its first).
    greedy_case_matches(&engine, fruits, 16);
}

//! The test model against llama.cpp's own outputs (`tests/fixtures/gemma3-270m/`, produced by
//! llama.cpp at commit 0c1e570 on this kind of machine): greedy tokens and perplexity.

mod common;

use rocmforge::engine::{Engine, GenerateOptions, SamplerConfig};
use serde_json::Value;

fn engine() -> Engine {
    Engine::load(common::test_model(), 0).expect("the test model loads")
}

fn reference(name: &str) -> Value {
    let text = std::fs::read_to_string(common::fixture(&format!("gemma3-270m/{name}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// The two best (id, logit) pairs.
fn top2(logits: &[f32]) -> [(u32, f32); 2] {
    let mut best = [(0u32, f32::NEG_INFINITY); 2];
    for (i, &l) in logits.iter().enumerate() {
        if l > best[0].1 {
            best[1] = best[0];
            best[0] = (i as u32, l);
        } else if l > best[1].1 {
            best[1] = (i as u32, l);
        }
    }
    best
}

/// A divergence counts as a near-tie, not a failure, only where llama.cpp's token is our
/// runner-up by less than this many logits. llama.cpp itself diverges from this reference
/// at such positions when built for AVX2 instead of AVX-512 (see docs/ARCHITECTURE.md).
const NEAR_TIE: f32 = 0.25;

#[test]
fn greedy_tokens_match_llama_cpp() {
    let engine = engine();
    let refs = reference("greedy.json");
    let (mut failures, mut near_ties) = (Vec::new(), Vec::new());
    for case in refs["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let prompt = case["prompt"].as_str().unwrap();
        let prompt_ids = engine.tokenizer.encode(prompt, true, true);
        assert_eq!(prompt_ids, ids(&case["prompt_token_ids"]), "{name}: prompt tokens");
        let want = ids(&case["generated_token_ids"]);

        // The greedy loop by hand, so that a divergence can show how close the call was.
        let got = {
            let mut exec = engine.executor(prompt_ids.len() + want.len(), 1).unwrap();
            let mut logits = exec.forward_last(&prompt_ids).unwrap();
            let mut got = Vec::new();
            for (step, &wanted) in want.iter().enumerate() {
                let [a, b] = top2(&logits);
                got.push(a.0);
                if a.0 != wanted {
                    let line = format!(
                        "{name}: step {step}: got {} (logit {:.4}), llama.cpp {}; runner-up {} (logit {:.4})",
                        a.0, a.1, wanted, b.0, b.1
                    );
                    if b.0 == wanted && a.1 - b.1 < NEAR_TIE {
                        near_ties.push(line);
                    } else {
                        failures.push(line);
                    }
                    break;
                }
                logits = exec.forward_last(&[a.0]).unwrap();
            }
            got
        };
        if got == want {
            // The engine's own generate path (sampler, streaming) must agree with the loop.
            let opts = GenerateOptions {
                max_tokens: want.len(),
                n_ctx: 0,
                sampler: SamplerConfig::greedy(),
                stop_at_eog: true,
            };
            let g = engine.generate(&prompt_ids, &opts, |_| {}).unwrap();
            assert_eq!(g.ids, want, "{name}: generate()");
            assert_eq!(g.text, case["generated_text"].as_str().unwrap(), "{name}: text");
        }
    }
    for line in &near_ties {
        eprintln!("near-tie divergence: {line}");
    }
    assert!(failures.is_empty(), "greedy divergences:\n{}", failures.join("\n"));
    assert!(near_ties.len() <= 1, "more than one near-tie: {near_ties:?}");
}

#[test]
fn perplexity_on_gpl3_matches_llama_cpp() {
    let engine = engine();
    let mut text = std::fs::read_to_string(common::fixture("gemma3-270m/gpl-3.txt")).unwrap();
    text.pop(); // llama.cpp's -f drops one trailing newline
    let r = engine.perplexity(&text, 512, 2048, None, |_, _| {}).unwrap();
    let reference = 13.9062;
    assert_eq!(r.n_tokens, 7562);
    assert_eq!(r.n_chunks, 14);
    let rel = (r.ppl - reference).abs() / reference;
    eprintln!("perplexity {:.4} +/- {:.5} vs llama.cpp {reference} ({:.3} %)", r.ppl, r.ppl_std, rel * 100.0);
    assert!(rel < 0.01, "perplexity {} is not within 1 % of llama.cpp's {reference}", r.ppl);
}

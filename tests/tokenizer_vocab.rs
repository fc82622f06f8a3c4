//! llama.cpp's test-tokenizer-0 vectors (`tests/fixtures/vocab/*.gguf.{inp,out}`) and the Gemma 3
//! llama-tokenize / llama-perplexity references, checked against `rocmforge::tokenizer`.

use std::path::PathBuf;

use rocmforge::gguf::Gguf;
use rocmforge::tokenizer::Tokenizer;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Reads the `.inp`/`.out` pair as `test-tokenizer-0.cpp` does: inputs separated by
/// "\n__ggml_vocab_test__\n", one line of ids per input.
fn read_cases(name: &str) -> Vec<(String, Vec<u32>)> {
    let base = fixture(&format!("vocab/ggml-vocab-{name}.gguf"));
    let inp = std::fs::read_to_string(base.with_extension("gguf.inp")).expect("read .inp");
    let out = std::fs::read_to_string(base.with_extension("gguf.out")).expect("read .out");
    let sep = "\n__ggml_vocab_test__\n";
    let mut inputs = Vec::new();
    let mut pos = 0;
    while pos < inp.len() {
        match inp[pos..].find(sep) {
            Some(n) => {
                inputs.push(inp[pos..pos + n].to_string());
                pos += n + sep.len();
            }
            None => {
                inputs.push(inp[pos..].to_string());
                break;
            }
        }
    }
    let outputs: Vec<Vec<u32>> =
        out.lines().map(|l| l.split_whitespace().map(|t| t.parse().expect("token id")).collect()).collect();
    assert_eq!(inputs.len(), outputs.len(), "{name}: .inp and .out disagree on the number of cases");
    inputs.into_iter().zip(outputs).collect()
}

fn load(name: &str) -> Tokenizer {
    let g = Gguf::open(fixture(&format!("vocab/ggml-vocab-{name}.gguf"))).expect("open vocab gguf");
    Tokenizer::from_gguf(&g).expect("load tokenizer")
}

/// `roundtrip`: also require decode(encode(x)) == x (vocabularies without HF's space clean-up).
fn check_vocab(name: &str, roundtrip: bool) {
    let tok = load(name);
    let cases = read_cases(name);
    let mut failures = Vec::new();
    for (input, expected) in &cases {
        let got = tok.encode(input, false, false);
        if roundtrip {
            let back = tok.decode(&got, false);
            if &back != input {
                failures.push(format!("round trip of {input:?} gave {back:?}"));
            }
        }
        if &got != expected {
            failures.push(format!(
                "input {input:?}\n  expected {expected:?} ({:?})\n  got      {got:?} ({:?})",
                tok.decode(expected, true),
                tok.decode(&got, true)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn vocab_llama_spm() {
    check_vocab("llama-spm", true);
}

#[test]
fn vocab_phi_3() {
    check_vocab("phi-3", true);
}

#[test]
fn vocab_llama_bpe() {
    check_vocab("llama-bpe", false);
}

#[test]
fn vocab_qwen2() {
    check_vocab("qwen2", true);
}

#[test]
fn vocab_gpt_2() {
    check_vocab("gpt-2", false);
}

#[test]
fn vocab_deepseek_llm() {
    check_vocab("deepseek-llm", true);
}

#[test]
fn qwen2_special_tokens_and_eog() {
    let tok = load("qwen2");
    let start = tok.token_id("<|im_start|>").expect("<|im_start|>");
    let end = tok.token_id("<|im_end|>").expect("<|im_end|>");
    let ids = tok.encode("<|im_start|>user\nhi<|im_end|>", false, true);
    assert_eq!(ids.first(), Some(&start));
    assert_eq!(ids.last(), Some(&end));
    assert!(tok.is_eog(end));
    assert!(!tok.is_eog(start));
    // Not parsed: the markers are tokenized as text.
    let plain = tok.encode("<|im_start|>", false, false);
    assert!(!plain.contains(&start));
    assert_eq!(tok.decode(&plain, false), "<|im_start|>");
}

#[test]
fn llama_bpe_bos_and_eot() {
    let tok = load("llama-bpe");
    assert!(tok.add_bos());
    assert_eq!(tok.encode("Hello", true, false), [128000, 9906]);
    let eot = tok.token_id("<|eot_id|>").expect("<|eot_id|>");
    assert!(tok.is_eog(eot) && tok.is_eog(128001));
    assert_eq!(tok.token_to_piece(9906, false), b"Hello");
}

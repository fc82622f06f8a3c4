//! Gemma 3 270M (SPM, 262k tokens): llama-tokenize ids from `tests/fixtures/gemma3-270m/tokenize.json`
//! and llama-perplexity's token count for the GPL-3 text.

use std::path::PathBuf;
use std::time::Instant;

use rocmforge::gguf::Gguf;
use rocmforge::tokenizer::Tokenizer;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemma3-270m").join(rel)
}

fn gemma() -> Tokenizer {
    let path = rocmforge::fetch::default_model().expect("Gemma 3 270M model file");
    let g = Gguf::open(path).expect("open gguf");
    let t0 = Instant::now();
    let tok = Tokenizer::from_gguf(&g).expect("load tokenizer");
    eprintln!("gemma tokenizer loaded in {:.1} ms", t0.elapsed().as_secs_f64() * 1e3);
    tok
}

#[test]
fn gemma3_metadata() {
    let tok = gemma();
    assert_eq!(tok.n_vocab(), 262144);
    assert_eq!(tok.bos(), Some(2));
    assert_eq!(tok.eos(), Some(1));
    assert!(tok.add_bos());
    assert!(tok.is_eog(1));
    assert_eq!(tok.token_text(106), Some("<end_of_turn>"));
    assert!(tok.is_eog(106), "<end_of_turn> ends generation");
    assert!(!tok.is_eog(105));
    assert_eq!(tok.token_text(105), Some("<start_of_turn>"));
}

#[test]
fn gemma3_llama_tokenize_cases() {
    let tok = gemma();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("tokenize.json")).expect("read")).expect("json");
    let cases = json["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        let prompt = case["prompt"].as_str().expect("prompt");
        let expected: Vec<u32> =
            case["token_ids"].as_array().expect("ids").iter().map(|v| v.as_u64().expect("id") as u32).collect();
        let got = tok.encode(prompt, true, true);
        if got != expected {
            failures.push(format!("{}: {prompt:?}\n  expected {expected:?}\n  got      {got:?}", case["name"]));
        }
        // Without BOS, decoding gives the prompt back.
        let back = tok.decode(&got[1..], false);
        if back != prompt {
            failures.push(format!("{}: round trip gave {back:?}", case["name"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn gemma3_chat_turn_markers() {
    let tok = gemma();
    let ids = tok.encode("<start_of_turn>user\nHi<end_of_turn>\n", true, true);
    assert_eq!(ids[..2], [2, 105]);
    assert!(ids.contains(&106));
    // Without parse_special the markers are plain text.
    let plain = tok.encode("<start_of_turn>user", true, false);
    assert!(!plain.contains(&105));
    assert_eq!(tok.decode(&plain, false), "<start_of_turn>user");
    assert_eq!(tok.token_to_piece(105, false), b"");
    assert_eq!(tok.token_to_piece(105, true), b"<start_of_turn>");
}

#[test]
fn gemma3_gpl3_token_count() {
    let tok = gemma();
    let mut text = std::fs::read_to_string(fixture("gpl-3.txt")).expect("read gpl-3");
    // llama-perplexity's -f drops one trailing newline.
    if text.ends_with('\n') {
        text.pop();
    }
    let t0 = Instant::now();
    let ids = tok.encode(&text, true, false);
    eprintln!("gpl-3: {} bytes -> {} tokens in {:.1} ms", text.len(), ids.len(), t0.elapsed().as_secs_f64() * 1e3);
    assert_eq!(ids.len(), 7562);
    let t1 = Instant::now();
    let parsed = tok.encode(&text, true, true);
    eprintln!("gpl-3 with parse_special: {} tokens in {:.1} ms", parsed.len(), t1.elapsed().as_secs_f64() * 1e3);
    assert_eq!(parsed, ids, "the GPL text contains no special tokens");
    assert_eq!(ids[0], 2);
    assert_eq!(tok.decode(&ids[1..], false), text);
}

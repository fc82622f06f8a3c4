//! The command line as a user (or a script comparing against llama.cpp) drives it.

mod common;

use std::process::{Command, Output};

use serde_json::Value;

fn rocmforge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rocmforge")).args(args).output().expect("the binary runs")
}

fn ok_stdout(args: &[&str]) -> String {
    let out = rocmforge(args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn fails_with(args: &[&str], needle: &str) {
    let out = rocmforge(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(stderr.contains(needle), "{args:?}: stderr lacks {needle:?}:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
}

fn model() -> String {
    common::test_model().display().to_string()
}

fn ids_line(ids: &[u64]) -> String {
    format!("[{}]", ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
}

/// Every case of llama-tokenize's reference for the test model, through the command line.
#[test]
fn tokenize_matches_llama_tokenize_on_the_test_model() {
    let refs: Value =
        serde_json::from_str(&std::fs::read_to_string(common::fixture("gemma3-270m/tokenize.json")).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("rocmforge-tok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for case in refs["cases"].as_array().unwrap() {
        let file = dir.join("prompt.txt");
        std::fs::write(&file, case["prompt"].as_str().unwrap()).unwrap();
        let out = ok_stdout(&["tokenize", "-m", &model(), "-f", file.to_str().unwrap(), "--ids"]);
        let want: Vec<u64> = case["token_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        assert_eq!(out.trim(), ids_line(&want), "{}", case["name"]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The first cases of each vocabulary's test-tokenizer-0 vectors (encoded without BOS, as
/// that test does), through the command line on the vocab-only files.
#[test]
fn tokenize_matches_reference_vectors_on_vocab_only_files() {
    for name in ["llama-spm", "phi-3", "llama-bpe", "qwen2", "gpt-2", "deepseek-llm"] {
        let base = common::fixture(&format!("vocab/ggml-vocab-{name}.gguf"));
        let inp = std::fs::read_to_string(base.with_extension("gguf.inp")).unwrap();
        let out = std::fs::read_to_string(base.with_extension("gguf.out")).unwrap();
        let cases = inp.split("\n__ggml_vocab_test__\n").zip(out.lines()).filter(|(i, _)| !i.is_empty()).take(4);
        for (text, ids) in cases {
            let want: Vec<u64> = ids.split_whitespace().map(|t| t.parse().unwrap()).collect();
            let got = ok_stdout(&["tokenize", "-m", base.to_str().unwrap(), "-p", text, "--ids", "--no-bos"]);
            assert_eq!(got.trim(), ids_line(&want), "{name}: {text:?}");
        }
    }
}

#[test]
fn tokenize_ids_like_llama_tokenize() {
    let vocab = common::fixture("vocab/ggml-vocab-llama-spm.gguf").display().to_string();
    let out = ok_stdout(&["tokenize", "-m", &vocab, "-p", "Hello world", "--ids"]);
    assert_eq!(out.trim(), "[1, 15043, 3186]");
    let out = ok_stdout(&["tokenize", "-m", &vocab, "-p", "Hello world", "--ids", "--no-bos"]);
    assert_eq!(out.trim(), "[15043, 3186]");
    let out = ok_stdout(&["tokenize", "-m", &vocab, "-p", "Hello"]);
    assert!(out.contains("15043 -> ' Hello'") || out.contains("15043 -> 'Hello'"), "{out}");
}

#[test]
fn tokenize_parse_special_switch() {
    let m = model();
    let out = ok_stdout(&["tokenize", "-m", &m, "-p", "<start_of_turn>user", "--ids"]);
    assert!(out.starts_with("[2, 105,"), "{out}");
    let out = ok_stdout(&["tokenize", "-m", &m, "-p", "<start_of_turn>user", "--ids", "--no-parse-special"]);
    assert!(!out.contains(" 105,"), "{out}");
}

#[test]
fn generate_json_gives_llama_cpp_greedy_ids() {
    let out =
        ok_stdout(&["generate", "-m", &model(), "-p", "The capital of France is", "-n", "8", "--temp", "0", "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let ids: Vec<u64> = v["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!(ids, [506, 5279, 529, 506, 2891, 529, 7001, 236761]);
    assert_eq!(v["prompt_ids"].as_array().unwrap().len(), 6);
    assert_eq!(v["n_gen"], 8);
    assert_eq!(v["text"], " the capital of the country of France.");
    assert!(v["gen_tps"].as_f64().unwrap() > 0.0);
}

#[test]
fn generate_streams_text_and_reports_speed() {
    let out = rocmforge(&["generate", "-m", &model(), "-p", "The capital of France is", "-n", "4", "--temp", "0"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "The capital of France is the capital of the");
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokens/s"));
}

#[test]
fn perplexity_json() {
    let dir = std::env::temp_dir().join(format!("rocmforge-ppl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(common::fixture("gemma3-270m/gpl-3.txt")).unwrap();
    let file = dir.join("head.txt");
    std::fs::write(&file, &text[..3000]).unwrap();
    let run = |batch: &str| -> Value {
        let args = ["perplexity", "-m", &model(), "-f", file.to_str().unwrap(), "-c", "128", "-b", batch, "--json"];
        serde_json::from_str(ok_stdout(&args).trim()).unwrap()
    };
    let v = run("2048");
    let ppl = v["ppl"].as_f64().unwrap();
    assert!(ppl.is_finite() && ppl > 1.0 && ppl < 100.0, "{v}");
    assert_eq!(v["n_ctx"], 128);
    assert!(v["n_chunks"].as_u64().unwrap() > 1, "{v}");
    assert_eq!(v["chunk_ppl"].as_array().unwrap().len() as u64, v["n_chunks"].as_u64().unwrap());
    // All chunks in one forward pass, each its own sequence, or one chunk a pass: the same scores.
    assert_eq!(run("128")["chunk_ppl"], v["chunk_ppl"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_json_like_llama_bench() {
    let args = ["bench", "-m", &model(), "-p", "16", "-n", "4", "-d", "0,24", "-r", "2", "-t", "2", "-o", "json"];
    let out = ok_stdout(&args);
    let v: Value = serde_json::from_str(&out).unwrap();
    let tests = v.as_array().unwrap();
    assert_eq!(tests.len(), 4);
    // llama-bench's order: every test at depth 0, then at depth 24.
    let shape = |t: &Value| (t["n_prompt"].as_u64(), t["n_gen"].as_u64(), t["n_depth"].as_u64());
    assert_eq!(shape(&tests[0]), (Some(16), Some(0), Some(0)));
    assert_eq!(shape(&tests[1]), (Some(0), Some(4), Some(0)));
    assert_eq!(shape(&tests[2]), (Some(16), Some(0), Some(24)));
    assert_eq!(shape(&tests[3]), (Some(0), Some(4), Some(24)));
    for t in tests {
        assert_eq!(t["n_threads"], 2);
        assert!(t["avg_ts"].as_f64().unwrap() > 0.0);
        assert_eq!(t["samples_ts"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn inspect_lists_hyperparameters_and_tensors() {
    let out = ok_stdout(&["inspect", &model()]);
    assert!(out.contains("general.architecture = \"gemma3\""), "{out}");
    assert!(out.contains("18 layers, embd 640"), "{out}");
    assert!(out.contains("token_embd.weight") && out.contains("q8_0"), "{out}");
}

#[test]
fn bad_input_gives_clear_errors() {
    fails_with(&["generate", "--bogus-flag"], "--bogus-flag");
    fails_with(&["generate", "-m", "/nonexistent/model.gguf", "-p", "x"], "/nonexistent/model.gguf");
    // The OS's reason once: an error that shows its cause is not also the cause's wrapper.
    let missing = rocmforge(&["generate", "-m", "/nonexistent/model.gguf", "-p", "x"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
    for (flag, value, needle) in [
        ("--top-p", "7", "top-p must be between 0 and 1, got 7"),
        ("--min-p", "-0.5", "min-p must be between 0 and 1"),
        ("--temp", "-1", "temperature must be 0 (greedy) or positive"),
        ("--repeat-penalty", "0", "repeat penalty must be positive"),
    ] {
        fails_with(&["generate", "-m", &model(), "-p", "x", flag, value], needle);
    }
    fails_with(&["generate", "-m", &model(), "-p", "x", "--device", "gpu"], "unknown device \"gpu\"");
    let junk = std::env::temp_dir().join(format!("rocmforge-junk-{}.gguf", std::process::id()));
    std::fs::write(&junk, b"definitely not a gguf file").unwrap();
    fails_with(&["inspect", junk.to_str().unwrap()], "not a GGUF file");
    std::fs::remove_file(&junk).ok();
    let long_prompt = "word ".repeat(50);
    fails_with(&["generate", "-m", &model(), "-p", &long_prompt, "-c", "16", "-n", "4"], "the context holds 16");
}

/// `synth` writes a random llama model in llama-quantize's Q4_K_M mix with a real tokenizer,
/// which the engine loads and runs; a bad shape or format is a clear error.
#[test]
fn synth_writes_a_model_that_runs() {
    let vocab = common::fixture("vocab/ggml-vocab-llama-bpe.gguf").display().to_string();
    let out = std::env::temp_dir().join(format!("rocmforge-synth-{}.gguf", std::process::id()));
    let path = out.to_str().unwrap();
    ok_stdout(&["synth", "--shape", "tiny", "--type", "q4_k_m", "--vocab", &vocab, "-o", path]);
    let listing = ok_stdout(&["inspect", path]);
    assert!(listing.contains("2 layers, embd 256") && listing.contains("vocab 128256"), "{listing}");
    // Q4_K, with Q6_K for the output and the "more bits" layers' attn_v and ffn_down.
    assert!(listing.contains("q4_K") && listing.contains("q6_K"), "{listing}");
    let text = ok_stdout(&["generate", "-m", path, "--device", "cpu", "-p", "Hello", "-n", "3", "--temp", "0"]);
    assert!(!text.is_empty());
    // `tune` needs a GPU and a bundle: without either it says which is missing.
    let tune = rocmforge(&["tune", "-m", path, "--bundle", "/nonexistent/b.rfkb"]);
    let stderr = String::from_utf8_lossy(&tune.stderr);
    assert!(!tune.status.success() && !stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("no GPU to run kernels on") || stderr.contains("reading the kernel bundle"), "{stderr}");
    std::fs::remove_file(&out).ok();
    fails_with(&["tune", "-m", path], &format!("loading {path}"));
    fails_with(&["synth", "--shape", "llama-70b", "--vocab", &vocab, "-o", path], "unknown shape \"llama-70b\"");
    fails_with(&["synth", "--type", "q9_x", "--vocab", &vocab, "-o", path], "unknown quantization \"q9_x\"");
}

/// `compile` writes a bundle that `kernels` lists and verifies (on a real toolchain; skipped with
/// the reason where none is installed).
#[test]
fn compile_writes_a_bundle_that_kernels_lists_and_verifies() {
    use rocmforge_codegen::toolchain::{default_cache_root, Toolchain};
    if let Err(e) = Toolchain::discover(&default_cache_root())
        .check(rocmforge_codegen::Host::Gpu(rocmforge_codegen::Target::Gfx942))
    {
        eprintln!("SKIPPED: {e}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("rocmforge-compile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("b.rfkb");
    let b = bundle.to_str().unwrap();
    let table = ok_stdout(&[
        "compile",
        "--arch",
        "gfx942",
        "--families",
        "rmsnorm,matvec",
        "--quants",
        "q4_0,q6_k",
        "-o",
        b,
        "--table",
    ]);
    assert!(table.contains("matvec[quant=q6_k,rows=16,loads=8]"), "{table}");
    let listed = ok_stdout(&["kernels", b]);
    assert_eq!(listed.lines().count(), 10, "a header, rmsnorm and two formats' four tuned geometries:\n{listed}");
    let manifest: Value = serde_json::from_str(&ok_stdout(&["kernels", b, "--json"])).unwrap();
    assert_eq!(manifest["wave_size"], 64);
    assert_eq!(manifest["variants"].as_array().unwrap().len(), 9);
    fails_with(&["compile", "--arch", "gfx942", "--families", "nope", "-o", b], "matches no kernel variant");

    let mut bytes = std::fs::read(&bundle).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x55;
    let corrupt = dir.join("corrupt.rfkb");
    std::fs::write(&corrupt, bytes).unwrap();
    fails_with(&["kernels", corrupt.to_str().unwrap()], "differs from the manifest");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn kernel_commands_reject_bad_input() {
    fails_with(&["compile", "--arch", "gfx906"], "unknown target \"gfx906\"");
    fails_with(&["compile", "--arch", "gfx942", "--quants", "q9_9"], "unknown quant format \"q9_9\"");
    fails_with(&["compile", "--arch", "gfx942,sm_90", "-o", "x.rfkb"], "-o names one file");
    fails_with(&["kernels", "/nonexistent/b.rfkb"], "/nonexistent/b.rfkb");
    // Before looking for a GPU: a filter that would time nothing but the copy.
    fails_with(
        &["bench-kernels", "--filter", "matvec "],
        "--filter \"matvec \" is part of no benchmarked kernel family",
    );
    let not_a_bundle = common::fixture("vocab/ggml-vocab-gpt-2.gguf");
    fails_with(&["kernels", not_a_bundle.to_str().unwrap()], "bad magic");
}

/// Without a GPU, `test-kernels` says so and fails; it never reports a pass it did not run.
#[test]
fn test_kernels_says_plainly_when_there_is_no_gpu() {
    let out = rocmforge(&["test-kernels"]);
    if out.status.success() {
        eprintln!("a GPU is present here and its parity run passed");
        return;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no GPU found") || stderr.contains("kernel outputs differ"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("passed"), "nothing may be reported as passed");
}

//! `rocmforge serve` as clients meet it: the real binary on 127.0.0.1 with the test model,
//! spoken to over plain HTTP (and by the official `openai` client), under concurrency,
//! malformed input, overload, disconnects and SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEY: &str = "sk-rocmforge-test";

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts the server on a free port and waits until `/health` says the model is loaded.
    fn start(args: &[&str]) -> Server {
        let model = common::test_model();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
            .args(["serve", "-m", model.to_str().unwrap(), "--port", "0", "--api-key", KEY, "-t", "2"])
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("the server prints its address").unwrap();
            if let Some(rest) = line.strip_prefix("listening on http://") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let server = Server { child, addr };
        let t0 = Instant::now();
        while server.get("/health").0 != 200 {
            assert!(t0.elapsed() < Duration::from_secs(60), "the model did not load within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).expect("the server accepts connections");
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        s
    }

    /// One HTTP/1.1 exchange; the raw request line, headers and body are the caller's.
    fn raw(&self, request: &str) -> (u16, String, String) {
        let mut s = self.connect();
        s.write_all(request.as_bytes()).unwrap();
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes).unwrap();
        parse_response(&String::from_utf8_lossy(&bytes))
    }

    fn request(&self, method: &str, path: &str, key: Option<&str>, body: &str) -> (u16, String, String) {
        let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
        self.raw(&format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        ))
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        self.request("GET", path, Some(KEY), "")
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, _, text) = self.request("POST", path, Some(KEY), &body.to_string());
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
    }

    fn metric(&self, name: &str) -> f64 {
        let (_, _, text) = self.get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("/metrics lacks {name}:\n{text}"))
            .parse()
            .unwrap()
    }

    /// Starts a streaming completion and reads until `n` events have come; the stream stays
    /// open until the returned connection is dropped (the client leaves).
    fn start_stream(&self, body: &Value, n: usize) -> TcpStream {
        let mut s = self.connect();
        let body = body.to_string();
        let req = format!(
            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while seen.matches("data: ").count() < n {
            let got = s.read(&mut buf).unwrap();
            assert!(got > 0, "the stream ended early: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..got]));
            assert!(seen.len() < 12 || seen.starts_with("HTTP/1.1 200"), "the stream was refused: {seen}");
        }
        s
    }

    fn terminate(&self) {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill -TERM failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status, headers and de-chunked body of a whole HTTP/1.1 response.
fn parse_response(text: &str) -> (u16, String, String) {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    (status, head.to_owned(), if chunked { dechunk(body) } else { body.to_owned() })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The `data:` payloads of an event stream, `[DONE]` included.
fn events(body: &str) -> Vec<String> {
    body.lines().filter_map(|l| l.strip_prefix("data: ")).map(str::to_owned).collect()
}

fn completion(prompt: &str, max_tokens: usize) -> Value {
    json!({ "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "cache_prompt": false })
}

#[test]
fn the_openai_client_chats_streams_and_completes() {
    if let Err(why) = Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .map_err(|e| e.to_string())
        .and_then(|o| if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) })
    {
        eprintln!("SKIPPED: the `openai` Python package is not installed (pip install openai): {why}");
        return;
    }
    let server = Server::start(&["--parallel", "2", "-c", "4096", "--alias", "gemma"]);
    let script = common::fixture("../clients/openai_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args([format!("http://{}/v1", server.addr), KEY.into(), "gemma".into()])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the openai client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[test]
fn bad_requests_get_their_4xx_and_the_server_keeps_serving() {
    let server = Server::start(&["--parallel", "2", "-c", "512"]);
    let long_prompt = "word ".repeat(400);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("malformed JSON", "{\"prompt\": \"hi\"".into(), 400, "invalid request body"),
        ("not JSON at all", "hello".into(), 400, "invalid request body"),
        ("a wrong type", json!({"prompt": "hi", "max_tokens": "ten"}).to_string(), 400, "invalid type"),
        ("a missing prompt", json!({"max_tokens": 3}).to_string(), 400, "missing field `prompt`"),
        ("an unknown model", json!({"prompt": "hi", "model": "gpt-9"}).to_string(), 400, "unknown model 'gpt-9'"),
        ("a prompt longer than the context", json!({"prompt": long_prompt}).to_string(), 400, "context holds 256"),
        ("an absurd max_tokens", json!({"prompt": "hi", "max_tokens": 1_000_000_000}).to_string(), 400, "max_tokens"),
        ("a negative max_tokens", json!({"prompt": "hi", "max_tokens": -1}).to_string(), 400, "max_tokens"),
        ("a temperature out of range", json!({"prompt": "hi", "temperature": 7.5}).to_string(), 400, "temperature"),
        ("top_p out of range", json!({"prompt": "hi", "top_p": -0.1}).to_string(), 400, "top_p"),
        ("a token outside the vocabulary", json!({"prompt": [2, 99999999]}).to_string(), 400, "outside the vocabulary"),
        ("an empty prompt", json!({"prompt": []}).to_string(), 400, "the prompt is empty"),
    ];
    for (what, body, status, needle) in cases {
        let (got, _, text) = server.request("POST", "/v1/completions", Some(KEY), &body);
        assert_eq!(got, status, "{what}: {text}");
        let err: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
        let message = err["error"]["message"].as_str().unwrap_or_else(|| panic!("{what}: no error message: {text}"));
        assert!(message.contains(needle), "{what}: {message:?} lacks {needle:?}");
        assert_eq!(err["error"]["type"], "invalid_request_error", "{what}");
    }
    let chat_bad = json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]});
    assert_eq!(server.post("/v1/chat/completions", &chat_bad).0, 400);

    let (status, _, text) = server.request("POST", "/v1/completions", None, &completion("hi", 2).to_string());
    assert_eq!(status, 401, "{text}");
    let (status, _, _) = server.request("POST", "/v1/completions", Some("wrong"), &completion("hi", 2).to_string());
    assert_eq!(status, 401);
    assert_eq!(server.request("GET", "/v1/nothing", Some(KEY), "").0, 404);
    assert_eq!(server.raw("THIS IS NOT HTTP\r\n\r\n").0, 400);

    let (status, ok) = server.post("/v1/completions", &completion("The capital of France is", 4));
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["usage"]["completion_tokens"], 4, "{ok}");
    assert!(server.metric("rocmforge_requests_total{path=\"/v1/completions\",status=\"400\"}") >= 12.0);
}

/// 32 clients at once, each with its own prompt at temperature 0: every one gets its whole
/// answer, and it is the answer the same request gets alone.
#[test]
fn concurrent_clients_get_the_answers_they_get_alone() {
    const CLIENTS: usize = 32;
    let server = Server::start(&["--parallel", "32", "-c", "8192"]);
    let prompts: Vec<String> =
        (0..CLIENTS).map(|i| format!("Fact number {i} about the planet {}:", i * 7 + 3)).collect();
    let alone: Vec<Value> = prompts.iter().map(|p| server.post("/v1/completions", &completion(p, 10)).1).collect();
    let t0 = Instant::now();
    let together: Vec<Value> = std::thread::scope(|s| {
        let server = &server;
        let handles: Vec<_> =
            prompts.iter().map(|p| s.spawn(move || server.post("/v1/completions", &completion(p, 10)).1)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("{CLIENTS} concurrent requests answered in {:.1} s", t0.elapsed().as_secs_f64());
    for (i, (a, t)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(t["usage"]["completion_tokens"], 10, "request {i}: {t}");
        assert_eq!(t["choices"][0]["finish_reason"], "length", "request {i}: {t}");
        assert_eq!(a["choices"][0]["text"], t["choices"][0]["text"], "request {i} differs alone and batched");
    }
    let texts: std::collections::HashSet<_> = together.iter().map(|t| t["choices"][0]["text"].to_string()).collect();
    assert!(texts.len() > CLIENTS / 2, "too many identical answers: the prompts were mixed up? {texts:?}");
    assert!(server.metric("rocmforge_time_to_first_token_seconds_count") >= (2 * CLIENTS) as f64);
}

/// A request sharing a prefix with an earlier one reuses that part of its slot's KV cache, and
/// gets the answer it gets computed from scratch.
#[test]
fn a_shared_prefix_is_reused_and_changes_nothing() {
    let server = Server::start(&["--parallel", "2", "-c", "2048"]);
    let system = "You are a careful assistant. Answer in one sentence, and never mention the weather. ";
    let first = json!({ "prompt": format!("{system}Question: what is a river?"), "max_tokens": 6, "temperature": 0 });
    assert_eq!(server.post("/v1/completions", &first).0, 200);
    assert_eq!(server.metric("rocmforge_prompt_tokens_cached_total"), 0.0);
    let prompt = format!("{system}Question: what is a mountain?");
    let reused = server.post("/v1/completions", &json!({ "prompt": prompt, "max_tokens": 6, "temperature": 0 })).1;
    let cached = server.metric("rocmforge_prompt_tokens_cached_total");
    assert!(cached >= 15.0, "only {cached} prompt tokens came from the cache");
    let fresh = server.post("/v1/completions", &completion(&prompt, 6)).1;
    assert_eq!(server.metric("rocmforge_prompt_tokens_cached_total"), cached, "cache_prompt: false reused the cache");
    assert_eq!(reused["choices"][0]["text"], fresh["choices"][0]["text"]);
}

/// A prompt prefix that a running request holds is shared with a new request (its KV blocks,
/// not computed again), and the new request gets the answer it gets computed from scratch.
#[test]
fn a_running_requests_prefix_is_shared_and_changes_nothing() {
    let server = Server::start(&["--parallel", "2", "-c", "2048"]);
    let system = "You are a careful assistant. Answer in one sentence, and never mention the weather. ";
    let long = json!({ "prompt": format!("{system}Tell me a long story."), "max_tokens": 900, "ignore_eos": true,
                       "stream": true, "temperature": 0 });
    let _running = server.start_stream(&long, 3);
    let used = server.metric("rocmforge_kv_blocks_used");
    let prompt = format!("{system}Question: what is a mountain?");
    let shared = server.post("/v1/completions", &json!({ "prompt": prompt, "max_tokens": 6, "temperature": 0 })).1;
    let cached = server.metric("rocmforge_prompt_tokens_cached_total");
    assert!(cached >= 15.0, "only {cached} prompt tokens came from the running request's blocks");
    let fresh = server.post("/v1/completions", &completion(&prompt, 6)).1;
    assert_eq!(shared["choices"][0]["text"], fresh["choices"][0]["text"]);
    assert!(server.metric("rocmforge_kv_blocks_used") >= used, "the running request lost its blocks");
}

/// A prompt longer than the step's token budget is computed over several steps (some with no
/// output row), and its answer is the one it gets in one piece.
#[test]
fn a_prompt_split_over_steps_gets_the_same_answer() {
    let prompt = "The history of the river begins in the mountains, where snow melts each spring and \
                  runs down through forests of pine and birch toward the valley towns below.";
    let whole = Server::start(&["--parallel", "2", "-c", "1024"]).post("/v1/completions", &completion(prompt, 8)).1;
    let split =
        Server::start(&["--parallel", "2", "-c", "1024", "-b", "7"]).post("/v1/completions", &completion(prompt, 8)).1;
    assert!(whole["usage"]["prompt_tokens"].as_u64().unwrap() > 20, "{whole}");
    assert_eq!(split["usage"]["completion_tokens"], 8, "{split}");
    assert_eq!(whole["choices"][0]["text"], split["choices"][0]["text"]);
}

#[test]
fn a_client_that_leaves_mid_stream_frees_its_sequence() {
    let server = Server::start(&["--parallel", "2", "-c", "4096"]);
    let body = json!({ "prompt": "Tell me a long story.", "max_tokens": 1500, "ignore_eos": true, "stream": true });
    {
        let _stream = server.start_stream(&body, 3);
        assert!(server.metric("rocmforge_kv_blocks_used") > 0.0);
    } // the client leaves
    let t0 = Instant::now();
    while server.metric("rocmforge_requests_running") > 0.0 || server.metric("rocmforge_kv_blocks_used") > 0.0 {
        assert!(t0.elapsed() < Duration::from_secs(30), "the abandoned sequence still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.metric("rocmforge_cancelled_total"), 1.0);
    assert!(server.metric("rocmforge_generation_tokens_total") < 1500.0);
    let (status, ok) = server.post("/v1/completions", &completion("Hello", 3));
    assert_eq!((status, ok["usage"]["completion_tokens"].as_u64()), (200, Some(3)));
}

/// More clients than slots and queue: the excess gets 429 with Retry-After. SIGTERM while the
/// accepted ones stream: every one of them finishes, and the server exits 0.
#[test]
fn overload_gets_429_and_sigterm_lets_streams_finish() {
    let mut server = Server::start(&["--parallel", "2", "--max-queue", "2", "-c", "2048"]);
    let (status, err) = server.post("/v1/completions", &json!({ "prompt": "hi", "n": 3 }));
    assert_eq!((status, err["error"]["param"].as_str()), (400, Some("n")), "more choices than the queue holds: {err}");
    const TOKENS: u64 = 40;
    let body = json!({ "prompt": "Count slowly:", "max_tokens": TOKENS, "ignore_eos": true, "stream": true,
                       "stream_options": {"include_usage": true} })
    .to_string();
    let results: Vec<(u16, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..8).map(|_| s.spawn(|| server.request("POST", "/v1/completions", Some(KEY), &body))).collect();
        // SIGTERM once some streams have begun.
        let t0 = Instant::now();
        while server.metric("rocmforge_generation_tokens_total") < 4.0 {
            assert!(t0.elapsed() < Duration::from_secs(60), "no stream began");
            std::thread::sleep(Duration::from_millis(20));
        }
        server.terminate();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    let streamed: Vec<_> = results.iter().filter(|r| r.0 == 200).collect();
    assert!(!refused.is_empty(), "8 clients for 2 slots and a queue of 2, and none was refused");
    assert!(streamed.len() >= 2, "statuses: {:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    assert_eq!(refused.len() + streamed.len(), 8, "statuses: {:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    for (_, head, _) in &refused {
        assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    }
    for (_, _, body) in &streamed {
        let ev = events(body);
        assert_eq!(ev.last().map(String::as_str), Some("[DONE]"), "a stream was cut: {body}");
        let usage: Value = serde_json::from_str(&ev[ev.len() - 2]).unwrap();
        assert_eq!(usage["usage"]["completion_tokens"], TOKENS, "{usage}");
    }
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "the server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the server exited with {status} after SIGTERM");
}

/// A model that cannot load ends the server with the reason, not a hang or a panic.
#[test]
fn a_model_that_fails_to_load_ends_the_server_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("rocmforge-serve-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("not-a-model.gguf");
    std::fs::write(&bad, b"GGUF but not really").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .args(["serve", "-m", bad.to_str().unwrap(), "--port", "0"])
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the server should fail: {stderr}");
    assert!(stderr.contains("loading the model failed"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let model = common::test_model();
    for (args, needle) in [(&["--parallel", "0"][..], "at least 1"), (&["-c", "3", "--parallel", "4"], "raise -c")] {
        let out = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
            .args(["serve", "-m", model.to_str().unwrap(), "--port", "0"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && !stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

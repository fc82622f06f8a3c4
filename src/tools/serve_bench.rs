//! A load generator for OpenAI-compatible servers (`bench-serve`): N clients stream
//! `/v1/completions` requests at once and the run reports generated tokens per second and
//! the p50/p99 time to first token and inter-token latency. It speaks only the API, so the
//! same run measures `rocmforge serve` and `llama-server`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The server's base address, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub api_key: Option<String>,
    pub concurrency: usize,
    pub requests: usize,
    pub max_tokens: usize,
    /// Words of each prompt (about as many tokens); every prompt differs from the first word.
    pub prompt_words: usize,
}

/// What one request measured.
struct Sample {
    ttft: Duration,
    /// Gaps between consecutive streamed tokens.
    gaps: Vec<Duration>,
    tokens: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    pub concurrency: usize,
    pub requests: usize,
    pub tokens: usize,
    pub seconds: f64,
    pub tokens_per_second: f64,
    pub ttft_p50_ms: f64,
    pub ttft_p99_ms: f64,
    pub itl_p50_ms: f64,
    pub itl_p99_ms: f64,
}

/// Runs `spec.requests` requests, `spec.concurrency` at a time.
pub async fn run_load(spec: &LoadSpec) -> Result<LoadReport, String> {
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(spec.concurrency).build().map_err(|e| e.to_string())?;
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..spec.concurrency)
        .map(|_| {
            let (client, next, spec) = (client.clone(), Arc::clone(&next), spec.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= spec.requests {
                        return Ok::<_, String>(samples);
                    }
                    samples.push(one_request(&client, &spec, i).await?);
                }
            })
        })
        .collect();
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await.map_err(|e| e.to_string())??);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let tokens: usize = samples.iter().map(|s| s.tokens).sum();
    let mut ttft: Vec<Duration> = samples.iter().map(|s| s.ttft).collect();
    let mut itl: Vec<Duration> = samples.iter().flat_map(|s| s.gaps.iter().copied()).collect();
    Ok(LoadReport {
        concurrency: spec.concurrency,
        requests: samples.len(),
        tokens,
        seconds,
        tokens_per_second: tokens as f64 / seconds,
        ttft_p50_ms: percentile_ms(&mut ttft, 0.50),
        ttft_p99_ms: percentile_ms(&mut ttft, 0.99),
        itl_p50_ms: percentile_ms(&mut itl, 0.50),
        itl_p99_ms: percentile_ms(&mut itl, 0.99),
    })
}

/// Prompt `i`: its own opening, then filler up to `words` words.
fn prompt(i: usize, words: usize) -> String {
    const FILLER: [&str; 8] = ["the", "river", "carried", "old", "stories", "past", "quiet", "towns"];
    let mut p = format!("Request {i}: continue this story.");
    for w in 0..words.saturating_sub(5) {
        p.push(' ');
        p.push_str(FILLER[(w + i) % FILLER.len()]);
    }
    p
}

async fn one_request(client: &reqwest::Client, spec: &LoadSpec, i: usize) -> Result<Sample, String> {
    let body = json!({
        "prompt": prompt(i, spec.prompt_words), "max_tokens": spec.max_tokens, "temperature": 0,
        "ignore_eos": true, "stream": true, "stream_options": { "include_usage": true },
    });
    let url = format!("{}/v1/completions", spec.url.trim_end_matches('/'));
    let mut req = client.post(url).header(reqwest::header::CONNECTION, "close").json(&body);
    if let Some(k) = &spec.api_key {
        req = req.bearer_auth(k);
    }
    let t0 = Instant::now();
    let resp = req.send().await.map_err(|e| format!("request {i}: {e:?}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        return Err(format!("request {i}: {status}: {}", resp.text().await.unwrap_or_default()));
    }
    let mut stream = resp.bytes_stream();
    let (mut buf, mut ttft, mut last, mut gaps, mut chunks, mut usage) = (String::new(), None, t0, Vec::new(), 0, None);
    while let Some(bytes) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&bytes.map_err(|e| format!("request {i}: {e}"))?));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            for data in event.lines().filter_map(|l| l.strip_prefix("data: ")) {
                if data == "[DONE]" {
                    continue;
                }
                let v: Value = serde_json::from_str(data).map_err(|e| format!("request {i}: {e}: {data}"))?;
                if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
                    usage = Some(n as usize);
                }
                if v["choices"][0]["text"].as_str().is_some_and(|t| !t.is_empty()) {
                    let now = Instant::now();
                    match ttft {
                        None => ttft = Some(now - t0),
                        Some(_) => gaps.push(now - last),
                    }
                    last = now;
                    chunks += 1;
                }
            }
        }
    }
    let ttft = ttft.ok_or_else(|| format!("request {i}: no text came back"))?;
    Ok(Sample { ttft, gaps, tokens: usage.unwrap_or(chunks) })
}

fn percentile_ms(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_prompts() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&mut v, 0.5), 50.0);
        assert_eq!(percentile_ms(&mut v, 0.99), 99.0);
        assert_eq!(prompt(3, 10).split(' ').count(), 10);
        assert_ne!(prompt(1, 10), prompt(2, 10));
    }
}

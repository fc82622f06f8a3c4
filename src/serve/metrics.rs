//! The server's counters, gauges and latency histograms, rendered in Prometheus' text format
//! (written here: a handful of atomics does not need a metrics framework).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use crate::backend::{KvUsage, KV_BLOCK};

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| s <= b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(&self.counts) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Relaxed) as f64 * 1e-6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Default)]
pub struct Metrics {
    responses: Mutex<BTreeMap<(String, u16), u64>>,
    pub prompt_tokens: AtomicU64,
    /// Prompt tokens whose KV entries were reused from an earlier request.
    pub prompt_tokens_cached: AtomicU64,
    pub generated_tokens: AtomicU64,
    pub cancelled: AtomicU64,
    pub waiting: AtomicU64,
    pub running: AtomicU64,
    kv: Mutex<KvUsage>,
    pub time_to_first_token: Histogram,
    pub inter_token_latency: Histogram,
}

impl Metrics {
    pub fn response(&self, path: &str, status: u16) {
        let mut r = self.responses.lock().unwrap_or_else(|p| p.into_inner());
        *r.entry((path.to_owned(), status)).or_default() += 1;
    }

    pub fn set_kv(&self, kv: KvUsage) {
        *self.kv.lock().unwrap_or_else(|p| p.into_inner()) = kv;
    }

    pub fn kv(&self) -> KvUsage {
        *self.kv.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP rocmforge_requests_total HTTP responses by path and status.\n");
        out.push_str("# TYPE rocmforge_requests_total counter\n");
        for ((path, status), n) in self.responses.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "rocmforge_requests_total{{path=\"{path}\",status=\"{status}\"}} {n}");
        }
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Relaxed));
        };
        counter(&mut out, "rocmforge_prompt_tokens_total", "Prompt tokens of admitted requests.", &self.prompt_tokens);
        counter(
            &mut out,
            "rocmforge_prompt_tokens_cached_total",
            "Prompt tokens served from cached KV entries.",
            &self.prompt_tokens_cached,
        );
        counter(&mut out, "rocmforge_generation_tokens_total", "Tokens generated.", &self.generated_tokens);
        counter(&mut out, "rocmforge_cancelled_total", "Sequences cancelled by a client leaving.", &self.cancelled);
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            &mut out,
            "rocmforge_requests_waiting",
            "Requests queued for a sequence slot.",
            self.waiting.load(Relaxed),
        );
        gauge(&mut out, "rocmforge_requests_running", "Sequences being computed.", self.running.load(Relaxed));
        let kv = self.kv();
        gauge(&mut out, "rocmforge_kv_block_positions", "Positions per KV cache block.", KV_BLOCK as u64);
        gauge(
            &mut out,
            "rocmforge_kv_blocks_used",
            "KV cache blocks held by running sequences (a shared block counts once).",
            kv.running as u64,
        );
        gauge(
            &mut out,
            "rocmforge_kv_blocks_cached",
            "KV cache blocks held only by idle slots, kept for prefix reuse.",
            kv.cached as u64,
        );
        gauge(&mut out, "rocmforge_kv_blocks_free", "KV cache blocks neither used nor cached.", kv.free as u64);
        self.time_to_first_token.render(
            &mut out,
            "rocmforge_time_to_first_token_seconds",
            "From a request's arrival to its first token.",
        );
        self.inter_token_latency.render(
            &mut out,
            "rocmforge_inter_token_latency_seconds",
            "Between consecutive tokens of a sequence.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_labelled() {
        let m = Metrics::default();
        m.time_to_first_token.observe(Duration::from_millis(3));
        m.time_to_first_token.observe(Duration::from_millis(300));
        m.time_to_first_token.observe(Duration::from_secs(60));
        m.response("/v1/completions", 429);
        m.set_kv(KvUsage { running: 5, cached: 7, free: 88 });
        let text = m.render();
        for line in [
            "rocmforge_time_to_first_token_seconds_bucket{le=\"0.005\"} 1",
            "rocmforge_time_to_first_token_seconds_bucket{le=\"0.5\"} 2",
            "rocmforge_time_to_first_token_seconds_bucket{le=\"30\"} 2",
            "rocmforge_time_to_first_token_seconds_bucket{le=\"+Inf\"} 3",
            "rocmforge_time_to_first_token_seconds_count 3",
            "rocmforge_requests_total{path=\"/v1/completions\",status=\"429\"} 1",
            "rocmforge_kv_blocks_free 88",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}

//! Continuous batching: one thread owns the model's executor and, at every step, builds one
//! batch from all running sequences (a decode token each, then prompt chunks up to the token
//! budget), computes it, samples each output row, and streams the text to its request.
//! Sequences join as soon as a slot is free and leave as soon as they finish or their client
//! leaves; nothing else waits for them.
//!
//! Each of the `--parallel` slots is one executor sequence, whose KV entries are blocks of the
//! executor's paged cache. A slot keeps the tokens whose KV it holds after its request ends. A
//! new request reuses the longest prefix of its prompt held by any slot, not computing it
//! again: in place when that slot is free, else by sharing the running slot's blocks
//! (`Executor::share_prefix`), so requests with a common system prompt running side by side
//! compute and store it once.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use axum::http::StatusCode;
use tokio::sync::mpsc::UnboundedSender;

use super::api::{Params, Prompt};
use super::error::ApiError;
use super::metrics::Metrics;
use super::stop::StopMatcher;
use crate::backend::{Batch, Executor};
use crate::engine::{Engine, EngineError, Sampler, SamplerConfig, TextStream};

/// A request handed to the scheduler; what becomes of it comes back through `events`.
pub struct Job {
    pub prompt: Prompt,
    pub params: Params,
    pub events: UnboundedSender<Event>,
    pub arrived: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// End of generation or a stop string.
    Stop,
    /// `max_tokens`, or the sequence's context is full.
    Length,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TopLogprob {
    pub token: String,
    pub bytes: Vec<u8>,
    pub logprob: f32,
}

#[derive(Debug, Clone)]
pub struct TokenLogprob {
    pub chosen: TopLogprob,
    pub top: Vec<TopLogprob>,
}

#[derive(Debug)]
pub enum Event {
    /// The prompt is tokenized and fits: the request waits for a slot.
    Accepted {
        prompt_tokens: usize,
    },
    Rejected(ApiError),
    /// Text of choice `choice`, and the log-probabilities of the tokens that made it (when asked).
    Delta {
        choice: usize,
        text: String,
        logprobs: Vec<TokenLogprob>,
    },
    Done {
        choice: usize,
        finish: Finish,
        completion_tokens: usize,
    },
    /// The device failed while computing the request.
    Failed(String),
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Sequence slots (running sequences at most).
    pub parallel: usize,
    /// Positions of each slot.
    pub n_ctx: usize,
    /// Tokens per step, decode and prompt chunks together.
    pub batch_tokens: usize,
}

/// A request, shared by its choices.
struct Request {
    params: Params,
    ids: Vec<u32>,
    events: UnboundedSender<Event>,
    arrived: Instant,
}

/// One choice of a running request.
struct Sequence {
    req: Arc<Request>,
    choice: usize,
    /// Prompt tokens not yet computed.
    pending: VecDeque<u32>,
    /// The last sampled token, to be computed next step.
    next: Option<u32>,
    sampler: Sampler,
    text: TextStream,
    stop: StopMatcher,
    generated: usize,
    last_token_at: Option<Instant>,
    logprobs: Vec<TokenLogprob>,
}

#[derive(Default)]
struct Slot {
    /// Tokens whose KV entries the slot holds (the executor's sequence length).
    cached: Vec<u32>,
    last_used: u64,
    seq: Option<Sequence>,
}

pub struct Scheduler<'e> {
    engine: &'e Engine,
    exec: Box<dyn Executor + 'e>,
    limits: Limits,
    slots: Vec<Slot>,
    waiting: VecDeque<(Arc<Request>, usize)>,
    metrics: Arc<Metrics>,
    clock: u64,
}

impl<'e> Scheduler<'e> {
    pub fn new(engine: &'e Engine, limits: Limits, metrics: Arc<Metrics>) -> Result<Self, EngineError> {
        let exec = engine.batch_invariant_executor(limits.n_ctx, limits.parallel)?;
        let slots = (0..limits.parallel).map(|_| Slot::default()).collect();
        Ok(Scheduler { engine, exec, limits, slots, waiting: VecDeque::new(), metrics, clock: 0 })
    }

    /// Serves jobs until the channel closes and the last sequence has finished.
    pub fn run(mut self, jobs: mpsc::Receiver<Job>) {
        let mut open = true;
        loop {
            if self.idle() {
                if !open {
                    return;
                }
                match jobs.recv() {
                    Ok(job) => self.accept(job),
                    Err(_) => return,
                }
            }
            loop {
                match jobs.try_recv() {
                    Ok(job) => self.accept(job),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            self.drop_cancelled();
            self.admit();
            self.step();
            self.publish_kv();
        }
    }

    fn idle(&self) -> bool {
        self.waiting.is_empty() && self.slots.iter().all(|s| s.seq.is_none())
    }

    /// Tokenizes a job's prompt and checks that it fits; queues its choices or rejects it.
    fn accept(&mut self, job: Job) {
        let n = job.params.n;
        match self.prompt_ids(&job.prompt, &job.params) {
            Err(e) => {
                self.metrics.waiting.fetch_sub(n as u64, Relaxed);
                let _ = job.events.send(Event::Rejected(e));
            }
            Ok(ids) => {
                let _ = job.events.send(Event::Accepted { prompt_tokens: ids.len() });
                let req = Arc::new(Request { params: job.params, ids, events: job.events, arrived: job.arrived });
                self.waiting.extend((0..n).map(|c| (Arc::clone(&req), c)));
            }
        }
    }

    fn prompt_ids(&self, prompt: &Prompt, params: &Params) -> Result<Vec<u32>, ApiError> {
        let e = self.engine;
        let ids = match prompt {
            Prompt::Text(t) => e.tokenizer.encode(t, true, true),
            Prompt::Chat(messages) => {
                let text = e.chat_prompt(messages).map_err(|err| match err {
                    EngineError::Chat(c) => ApiError::bad_request(c.to_string(), Some("messages")),
                    other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
                })?;
                e.chat_ids(&text)
            }
            Prompt::Tokens(ids) => {
                let n_vocab = e.tokenizer.n_vocab();
                if let Some(bad) = ids.iter().find(|&&t| t as usize >= n_vocab) {
                    return Err(ApiError::bad_request(
                        format!("token id {bad} is outside the vocabulary ({n_vocab} tokens)"),
                        Some("prompt"),
                    ));
                }
                ids.clone()
            }
        };
        let n_ctx = self.limits.n_ctx;
        if ids.is_empty() {
            return Err(ApiError::bad_request("the prompt is empty", Some("prompt")));
        }
        if ids.len() >= n_ctx {
            return Err(ApiError::bad_request(
                format!(
                    "the prompt has {} tokens but a sequence's context holds {n_ctx} (the server's -c divided by --parallel)",
                    ids.len()
                ),
                Some("messages"),
            ));
        }
        if let Some(max) = params.max_tokens.filter(|&m| ids.len().saturating_add(m) > n_ctx) {
            return Err(ApiError::bad_request(
                format!(
                    "max_tokens {max} and the prompt's {} tokens exceed a sequence's context of {n_ctx} tokens",
                    ids.len()
                ),
                Some("max_tokens"),
            ));
        }
        Ok(ids)
    }

    /// Ends sequences whose client has gone: their slots are free for the next request.
    fn drop_cancelled(&mut self) {
        let before = self.waiting.len();
        self.waiting.retain(|(req, _)| !req.events.is_closed());
        self.metrics.waiting.fetch_sub((before - self.waiting.len()) as u64, Relaxed);
        for slot in &mut self.slots {
            if slot.seq.as_ref().is_some_and(|s| s.req.events.is_closed()) {
                slot.seq = None;
                self.metrics.running.fetch_sub(1, Relaxed);
                self.metrics.cancelled.fetch_add(1, Relaxed);
            }
        }
    }

    /// Moves waiting choices into free slots, each into the one whose cache shares most of its prompt.
    fn admit(&mut self) {
        while self.slots.iter().any(|s| s.seq.is_none()) {
            let Some((req, choice)) = self.waiting.pop_front() else { break };
            self.metrics.waiting.fetch_sub(1, Relaxed);
            let Placement { slot, share_from, reused } =
                if req.params.cache_prompt { self.place(&req.ids) } else { Placement::fresh(self.emptiest_slot()) };
            self.clock += 1;
            match share_from {
                Some(src) => {
                    self.exec.share_prefix(src, slot, reused);
                    self.slots[slot].cached = self.slots[src].cached[..reused].to_vec();
                }
                None => {
                    self.exec.truncate(slot, reused);
                    self.slots[slot].cached.truncate(reused);
                }
            }
            let s = &mut self.slots[slot];
            s.last_used = self.clock;
            let mut cfg = req.params.sampler.clone();
            cfg.seed = cfg.seed.wrapping_add(choice as u64);
            let mut sampler = Sampler::new(cfg);
            req.ids.iter().for_each(|&t| sampler.accept(t));
            s.seq = Some(Sequence {
                pending: req.ids[reused..].iter().copied().collect(),
                next: None,
                sampler,
                text: TextStream::default(),
                stop: StopMatcher::new(req.params.stop.clone()),
                generated: 0,
                last_token_at: None,
                logprobs: Vec::new(),
                choice,
                req: Arc::clone(&req),
            });
            self.metrics.running.fetch_add(1, Relaxed);
            self.metrics.prompt_tokens.fetch_add(req.ids.len() as u64, Relaxed);
            self.metrics.prompt_tokens_cached.fetch_add(reused as u64, Relaxed);
        }
    }

    /// Where a prompt `ids` goes: the free slot whose cached tokens share the longest prefix
    /// with it (the least recently used among equals), unless a running slot shares a longer
    /// one, which the emptiest free slot then takes over. At least the prompt's last token is
    /// computed again, for its logits.
    fn place(&self, ids: &[u32]) -> Placement {
        let common = |s: &Slot| s.cached.iter().zip(ids).take_while(|(a, b)| a == b).count().min(ids.len() - 1);
        let (free, kept) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.seq.is_none())
            .map(|(i, s)| (i, common(s), s.last_used))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
            .map(|(i, n, _)| (i, n))
            .expect("admit calls this with a free slot");
        let running = self.slots.iter().enumerate().filter(|(_, s)| s.seq.is_some()).map(|(i, s)| (i, common(s)));
        match running.max_by_key(|&(_, n)| n) {
            Some((src, shared)) if shared > kept => {
                Placement { slot: self.emptiest_slot(), share_from: Some(src), reused: shared }
            }
            _ => Placement { slot: free, share_from: None, reused: kept },
        }
    }

    /// The free slot holding the fewest cached tokens, for a request that will not reuse them.
    fn emptiest_slot(&self) -> usize {
        let free = self.slots.iter().enumerate().filter(|(_, s)| s.seq.is_none());
        free.min_by_key(|(_, s)| s.cached.len()).map(|(i, _)| i).expect("admit calls this with a free slot")
    }

    /// One forward pass over every running sequence, then a token for each that asked for one.
    fn step(&mut self) {
        let (batch, outputs) = self.build_batch();
        if batch.is_empty() {
            return;
        }
        let result = self.exec.forward(&batch).and_then(|()| self.sample(&outputs));
        match result {
            Ok(tokens) => {
                for (&slot, token) in outputs.iter().zip(tokens) {
                    self.emit(slot, token);
                }
            }
            Err(e) => {
                tracing::error!("a step of {} tokens failed: {e}", batch.len());
                let mut seqs: Vec<usize> = batch.tokens().iter().map(|t| t.seq).collect();
                seqs.dedup(); // a sequence's tokens are consecutive in the batch
                for seq in seqs {
                    self.fail(seq, &e.to_string());
                }
            }
        }
    }

    /// The step's batch: each decoding sequence's next token, then prompt chunks in slot order
    /// while the token budget lasts. Returns the slots of the output rows, in row order.
    fn build_batch(&mut self) -> (Batch, Vec<usize>) {
        let mut batch = Batch::new();
        let mut outputs = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(token) = slot.seq.as_mut().and_then(|s| s.next.take()) {
                batch.push(token, slot.cached.len(), i, true);
                slot.cached.push(token);
                outputs.push(i);
            }
        }
        let mut budget = self.limits.batch_tokens.saturating_sub(batch.len());
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(seq) = slot.seq.as_mut() else { continue };
            let take = seq.pending.len().min(budget);
            for k in 0..take {
                let token = seq.pending.pop_front().expect("take is at most the pending count");
                let last = k + 1 == take && seq.pending.is_empty();
                batch.push(token, slot.cached.len(), i, last);
                slot.cached.push(token);
                if last {
                    outputs.push(i);
                }
            }
            budget -= take;
        }
        (batch, outputs)
    }

    /// A token for each output row: drawn on the device when every row draws the same way and
    /// needs nothing else, else from the logits on the host (penalties, log-probabilities, or
    /// sampling settings that differ between rows).
    fn sample(&mut self, outputs: &[usize]) -> Result<Vec<u32>, crate::backend::BackendError> {
        if outputs.is_empty() {
            return Ok(Vec::new()); // only pieces of prompts longer than the budget
        }
        let mut by_slot: Vec<Option<&mut Sequence>> = self.slots.iter_mut().map(|s| s.seq.as_mut()).collect();
        let mut rows: Vec<&mut Sequence> = outputs
            .iter()
            .map(|&slot| by_slot[slot].take().expect("an output row belongs to a running sequence"))
            .collect();
        let first = rows[0].sampler.config().clone();
        let on_device = rows.iter().all(|s| s.req.params.logprobs.is_none() && same_draw(s.sampler.config(), &first))
            && !first.has_penalties();
        if on_device {
            if first.temperature <= 0.0 {
                return self.exec.greedy();
            }
            let draws: Vec<f32> = rows.iter_mut().map(|s| s.sampler.draw()).collect();
            return self.exec.sample(&first, &draws);
        }
        let logits = self.exec.logits(0..rows.len())?;
        let n_vocab = logits.len() / rows.len();
        let engine = self.engine;
        let tokenizer = &engine.tokenizer;
        Ok(rows
            .iter_mut()
            .zip(logits.chunks_exact(n_vocab))
            .map(|(seq, row)| {
                let mut row = row.to_vec();
                let top = seq.req.params.logprobs.map(|k| (k, log_softmax(&row)));
                let token = seq.sampler.sample(&mut row);
                if let Some((k, lp)) = top {
                    seq.logprobs.push(token_logprobs(&lp, token, k, |t| tokenizer.token_to_piece(t, true)));
                }
                token
            })
            .collect())
    }

    /// Delivers `token` to the sequence in `slot`: its text, and the end of it when it ends.
    fn emit(&mut self, slot: usize, token: u32) {
        let n_ctx = self.limits.n_ctx;
        let engine = self.engine;
        let tokenizer = &engine.tokenizer;
        let s = &mut self.slots[slot];
        let Some(seq) = s.seq.as_mut() else { return };
        let now = Instant::now();
        match seq.last_token_at {
            None => self.metrics.time_to_first_token.observe(now - seq.req.arrived),
            Some(t) => self.metrics.inter_token_latency.observe(now - t),
        }
        seq.last_token_at = Some(now);
        seq.sampler.accept(token);
        if !seq.req.params.ignore_eos && tokenizer.is_eog(token) {
            return self.finish(slot, Finish::Stop, true);
        }
        seq.generated += 1;
        self.metrics.generated_tokens.fetch_add(1, Relaxed);
        let text = seq.text.push(&tokenizer.token_to_piece(token, true));
        let released = seq.stop.push(&text);
        if !released.text.is_empty() || released.stopped {
            let delta =
                Event::Delta { choice: seq.choice, text: released.text, logprobs: std::mem::take(&mut seq.logprobs) };
            if seq.req.events.send(delta).is_err() {
                return; // the client left; drop_cancelled frees the slot
            }
        }
        if released.stopped {
            self.finish(slot, Finish::Stop, false);
        } else if seq.req.params.max_tokens.is_some_and(|m| seq.generated >= m) || s.cached.len() >= n_ctx {
            self.finish(slot, Finish::Length, true);
        } else {
            seq.next = Some(token);
        }
    }

    /// Ends the sequence in `slot`: the text it held back (unless a stop string ended it, when
    /// what follows the stop string is dropped), then its `Done`.
    fn finish(&mut self, slot: usize, finish: Finish, flush: bool) {
        let Some(mut seq) = self.slots[slot].seq.take() else { return };
        self.metrics.running.fetch_sub(1, Relaxed);
        let rest = if flush {
            let tail = seq.text.finish();
            let released = seq.stop.push(&tail);
            if released.stopped {
                released.text
            } else {
                released.text + &seq.stop.finish()
            }
        } else {
            String::new()
        };
        let events = &seq.req.events;
        if !rest.is_empty() || !seq.logprobs.is_empty() {
            let _ = events.send(Event::Delta { choice: seq.choice, text: rest, logprobs: seq.logprobs });
        }
        let _ = events.send(Event::Done { choice: seq.choice, finish, completion_tokens: seq.generated });
    }

    /// The device failed on a batch holding sequence `slot`: its request fails, and its cache
    /// (no longer known to be whole) is dropped.
    fn fail(&mut self, slot: usize, why: &str) {
        let s = &mut self.slots[slot];
        self.exec.truncate(slot, 0);
        s.cached.clear();
        if let Some(seq) = s.seq.take() {
            self.metrics.running.fetch_sub(1, Relaxed);
            let _ = seq.req.events.send(Event::Failed(why.to_owned()));
        }
    }

    fn publish_kv(&self) {
        let usage = self.exec.kv_blocks().usage(|seq| self.slots[seq].seq.is_some());
        self.metrics.set_kv(usage);
    }
}

/// A slot for a new request, and the prefix of its prompt it starts with.
struct Placement {
    slot: usize,
    /// The running slot whose KV blocks the prefix is shared from; `None`: the slot's own.
    share_from: Option<usize>,
    reused: usize,
}

impl Placement {
    fn fresh(slot: usize) -> Self {
        Placement { slot, share_from: None, reused: 0 }
    }
}

/// Whether two configurations draw a token the same way (penalties aside).
fn same_draw(a: &SamplerConfig, b: &SamplerConfig) -> bool {
    let greedy = |c: &SamplerConfig| c.temperature <= 0.0;
    if greedy(a) || greedy(b) {
        return greedy(a) && greedy(b);
    }
    (a.temperature, a.top_k, a.top_p, a.min_p) == (b.temperature, b.top_k, b.top_p, b.min_p)
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    let log_z = max + sum.ln() as f32;
    logits.iter().map(|&l| l - log_z).collect()
}

/// The chosen token's log-probability and the `k` most likely tokens', from the raw logits.
fn token_logprobs(lp: &[f32], token: u32, k: usize, piece: impl Fn(u32) -> Vec<u8>) -> TokenLogprob {
    let entry = |t: u32| {
        let bytes = piece(t);
        TopLogprob { token: String::from_utf8_lossy(&bytes).into_owned(), bytes, logprob: lp[t as usize] }
    };
    let mut order: Vec<u32> = (0..lp.len() as u32).collect();
    if k > 0 && k < order.len() {
        order.select_nth_unstable_by(k - 1, |&a, &b| lp[b as usize].total_cmp(&lp[a as usize]));
    }
    order.truncate(k);
    order.sort_by(|&a, &b| lp[b as usize].total_cmp(&lp[a as usize]).then(a.cmp(&b)));
    TokenLogprob { chosen: entry(token), top: order.into_iter().map(entry).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_are_normalised_and_ordered() {
        let lp = log_softmax(&[1.0, 3.0, 2.0, 0.0]);
        let total: f32 = lp.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        let t = token_logprobs(&lp, 2, 2, |t| vec![b'a' + t as u8]);
        assert_eq!(t.chosen.token, "c");
        assert_eq!(t.top.iter().map(|e| e.token.as_str()).collect::<Vec<_>>(), ["b", "c"]);
        assert!(t.top[0].logprob > t.top[1].logprob);
    }

    #[test]
    fn rows_draw_together_only_with_equal_settings() {
        let g = SamplerConfig::greedy();
        let s = SamplerConfig::default();
        assert!(same_draw(&g, &SamplerConfig { top_k: 3, ..g.clone() }));
        assert!(!same_draw(&g, &s));
        assert!(!same_draw(&s, &SamplerConfig { top_p: 0.5, ..s.clone() }));
    }
}

//! The HTTP surface: OpenAI's `/v1/chat/completions`, `/v1/completions` and `/v1/models`, plus
//! `/health` and `/metrics`. A handler checks its request, queues it for the scheduler, and
//! answers with the whole result or streams it as server-sent events.

use std::convert::Infallible;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{mpsc, Arc};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc as tmpsc, watch};

use super::api::{self, ChatRequest, CompletionRequest, Params, Prompt};
use super::error::ApiError;
use super::metrics::Metrics;
use super::scheduler::{Event, Finish, Job, TokenLogprob};
use super::Readiness;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    model_id: String,
    api_key: Option<String>,
    max_queue: usize,
    jobs: mpsc::Sender<Job>,
    ready: watch::Receiver<Readiness>,
    metrics: Arc<Metrics>,
    created: u64,
}

impl AppState {
    pub fn new(
        model_id: String,
        api_key: Option<String>,
        max_queue: usize,
        jobs: mpsc::Sender<Job>,
        ready: watch::Receiver<Readiness>,
        metrics: Arc<Metrics>,
    ) -> Self {
        AppState(Arc::new(Inner { model_id, api_key, max_queue, jobs, ready, metrics, created: unix_now() }))
    }
}

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_api_key));
    Router::new()
        .merge(v1)
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), count_responses))
        .with_state(state)
}

/// With `--api-key`, the `/v1` endpoints need `Authorization: Bearer KEY`.
async fn require_api_key(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(key) = &app.0.api_key {
        let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if given.and_then(|v| v.strip_prefix("Bearer ")) != Some(key.as_str()) {
            return ApiError::new(StatusCode::UNAUTHORIZED, "a valid API key is needed: Authorization: Bearer KEY")
                .into_response();
        }
    }
    next.run(req).await
}

async fn count_responses(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let path = match req.uri().path() {
        p @ ("/v1/chat/completions" | "/v1/completions" | "/v1/models" | "/health" | "/metrics") => p.to_owned(),
        _ => "other".to_owned(),
    };
    let response = next.run(req).await;
    app.0.metrics.response(&path, response.status().as_u16());
    response
}

async fn health(State(app): State<AppState>) -> Response {
    match &*app.0.ready.borrow() {
        Readiness::Ready => Json(json!({ "status": "ok" })).into_response(),
        Readiness::Loading => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "loading model" }))).into_response()
        }
        Readiness::Failed(why) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "error", "error": why }))).into_response()
        }
    }
}

async fn metrics(State(app): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.0.metrics.render()).into_response()
}

async fn models(State(app): State<AppState>) -> Json<Value> {
    Json(json!({ "object": "list", "data": [{
        "id": app.0.model_id, "object": "model", "created": app.0.created, "owned_by": "rocmforge",
    }]}))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat,
    Completion,
}

async fn chat(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: ChatRequest = api::parse(&body)?;
    app.check_model(req.common.model.as_deref())?;
    let (prompt, params) = (req.prompt()?, req.params()?);
    app.run(Endpoint::Chat, prompt, params).await
}

async fn completions(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: CompletionRequest = api::parse(&body)?;
    app.check_model(req.common.model.as_deref())?;
    let (prompt, params) = (req.prompt()?, req.params()?);
    app.run(Endpoint::Completion, prompt, params).await
}

impl AppState {
    fn check_model(&self, model: Option<&str>) -> Result<(), ApiError> {
        match model {
            Some(m) if !m.is_empty() && m != self.0.model_id => Err(ApiError::bad_request(
                format!("unknown model '{m}': this server serves '{}'", self.0.model_id),
                Some("model"),
            )),
            _ => Ok(()),
        }
    }

    /// Queues the request, waits until the scheduler has tokenized it, then answers.
    async fn run(&self, endpoint: Endpoint, prompt: Prompt, params: Params) -> Result<Response, ApiError> {
        let app = &self.0;
        match &*app.ready.borrow() {
            Readiness::Ready => {}
            Readiness::Loading => {
                return Err(ApiError::retry(StatusCode::SERVICE_UNAVAILABLE, "the model is loading", 1));
            }
            Readiness::Failed(why) => {
                return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("the model failed to load: {why}")));
            }
        }
        let n = params.n as u64;
        if n > app.max_queue as u64 {
            let why = format!("'n' is {n} but the server queues at most {} sequences (--max-queue)", app.max_queue);
            return Err(ApiError::bad_request(why, Some("n")));
        }
        let reserved =
            app.metrics.waiting.fetch_update(Relaxed, Relaxed, |w| (w + n <= app.max_queue as u64).then_some(w + n));
        if reserved.is_err() {
            return Err(ApiError::retry(StatusCode::TOO_MANY_REQUESTS, "the server's queue is full: retry later", 1));
        }
        let (events, mut rx) = tmpsc::unbounded_channel();
        let job = Job { prompt, params: params.clone(), events, arrived: Instant::now() };
        if app.jobs.send(job).is_err() {
            app.metrics.waiting.fetch_sub(n, Relaxed);
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"));
        }
        let prompt_tokens = match rx.recv().await {
            Some(Event::Accepted { prompt_tokens }) => prompt_tokens,
            Some(Event::Rejected(e)) => return Err(e),
            _ => return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the scheduler dropped the request")),
        };
        let reply = Reply::new(endpoint, &app.model_id, &params, prompt_tokens);
        if params.stream {
            Ok(Sse::new(reply.stream(rx)).keep_alive(KeepAlive::default()).into_response())
        } else {
            Ok(Json(reply.collect(rx).await?).into_response())
        }
    }
}

/// The shape of one request's answer.
struct Reply {
    endpoint: Endpoint,
    id: String,
    model: String,
    created: u64,
    n: usize,
    logprobs: bool,
    include_usage: bool,
    prompt_tokens: usize,
}

/// What has come back for one choice.
#[derive(Default)]
struct Choice {
    text: String,
    logprobs: Vec<TokenLogprob>,
    finish: Option<Finish>,
    completion_tokens: usize,
}

impl Reply {
    fn new(endpoint: Endpoint, model: &str, params: &Params, prompt_tokens: usize) -> Self {
        let prefix = if endpoint == Endpoint::Chat { "chatcmpl" } else { "cmpl" };
        Reply {
            endpoint,
            id: format!("{prefix}-{:016x}", rand::random::<u64>()),
            model: model.to_owned(),
            created: unix_now(),
            n: params.n,
            logprobs: params.logprobs.is_some(),
            include_usage: params.include_usage,
            prompt_tokens,
        }
    }

    fn usage(&self, completion_tokens: usize) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        })
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.endpoint, chunk) {
            (Endpoint::Chat, false) => "chat.completion",
            (Endpoint::Chat, true) => "chat.completion.chunk",
            (Endpoint::Completion, _) => "text_completion",
        }
    }

    fn logprobs_json(&self, lps: &[TokenLogprob]) -> Value {
        if !self.logprobs {
            return Value::Null;
        }
        let entry =
            |e: &super::scheduler::TopLogprob| json!({ "token": e.token, "logprob": e.logprob, "bytes": e.bytes });
        match self.endpoint {
            Endpoint::Chat => json!({ "content": lps.iter().map(|t| {
                let mut v = entry(&t.chosen);
                v["top_logprobs"] = t.top.iter().map(entry).collect();
                v
            }).collect::<Vec<_>>() }),
            Endpoint::Completion => json!({
                "tokens": lps.iter().map(|t| &t.chosen.token).collect::<Vec<_>>(),
                "token_logprobs": lps.iter().map(|t| t.chosen.logprob).collect::<Vec<_>>(),
                "top_logprobs": lps.iter().map(|t| {
                    t.top.iter().map(|e| (e.token.clone(), json!(e.logprob))).collect::<serde_json::Map<_, _>>()
                }).collect::<Vec<_>>(),
            }),
        }
    }

    /// A choice of the whole answer, or of a streamed chunk (`delta`).
    fn choice(&self, index: usize, text: &str, lps: &[TokenLogprob], finish: Option<Finish>, delta: bool) -> Value {
        let finish = finish.map(Finish::as_str);
        let logprobs = self.logprobs_json(lps);
        match (self.endpoint, delta) {
            (Endpoint::Chat, false) => json!({
                "index": index, "message": { "role": "assistant", "content": text },
                "logprobs": logprobs, "finish_reason": finish,
            }),
            (Endpoint::Chat, true) => {
                let delta = if finish.is_some() && text.is_empty() { json!({}) } else { json!({ "content": text }) };
                json!({ "index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish })
            }
            (Endpoint::Completion, _) => {
                json!({ "index": index, "text": text, "logprobs": logprobs, "finish_reason": finish })
            }
        }
    }

    fn body(&self, choices: Vec<Value>, usage: Option<Value>, chunk: bool) -> Value {
        let mut v = json!({
            "id": self.id, "object": self.object(chunk), "created": self.created,
            "model": self.model, "choices": choices,
        });
        if let Some(u) = usage {
            v["usage"] = u;
        }
        v
    }

    /// Waits for every choice to finish and builds the whole answer.
    async fn collect(self, mut rx: tmpsc::UnboundedReceiver<Event>) -> Result<Value, ApiError> {
        let mut choices: Vec<Choice> = (0..self.n).map(|_| Choice::default()).collect();
        while choices.iter().any(|c| c.finish.is_none()) {
            match rx.recv().await {
                Some(Event::Delta { choice, text, logprobs }) => {
                    choices[choice].text.push_str(&text);
                    choices[choice].logprobs.extend(logprobs);
                }
                Some(Event::Done { choice, finish, completion_tokens }) => {
                    choices[choice].finish = Some(finish);
                    choices[choice].completion_tokens = completion_tokens;
                }
                Some(Event::Failed(why)) => return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, why)),
                Some(Event::Accepted { .. } | Event::Rejected(_)) | None => {
                    return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the scheduler dropped the request"))
                }
            }
        }
        let completion_tokens = choices.iter().map(|c| c.completion_tokens).sum();
        let values = choices.iter().enumerate().map(|(i, c)| self.choice(i, &c.text, &c.logprobs, c.finish, false));
        Ok(self.body(values.collect(), Some(self.usage(completion_tokens)), false))
    }

    /// The answer as server-sent events: a first chunk with the role (chat), text deltas as they
    /// come, a chunk per finished choice, the usage if asked for, then `[DONE]`.
    fn stream(self, rx: tmpsc::UnboundedReceiver<Event>) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        let opening: Vec<Value> = if self.endpoint == Endpoint::Chat {
            let role = |i| json!({ "index": i, "delta": { "role": "assistant", "content": "" }, "logprobs": null, "finish_reason": null });
            vec![self.body((0..self.n).map(role).collect(), None, true)]
        } else {
            Vec::new()
        };
        let state = Streaming { reply: self, rx, finished: 0, completion_tokens: 0, ended: false };
        let rest = stream::unfold(state, |mut st| async move {
            if st.ended {
                return None;
            }
            let mut events: Vec<SseEvent> = st.next_chunks().await.iter().map(sse_data).collect();
            if st.ended {
                events.push(SseEvent::default().data("[DONE]"));
            }
            Some((stream::iter(events.into_iter().map(Ok)), st))
        });
        stream::iter(opening.iter().map(sse_data).map(Ok).collect::<Vec<_>>()).chain(rest.flatten())
    }
}

/// A streamed answer in progress.
struct Streaming {
    reply: Reply,
    rx: tmpsc::UnboundedReceiver<Event>,
    finished: usize,
    completion_tokens: usize,
    ended: bool,
}

impl Streaming {
    /// The chunks the scheduler's next event gives; `ended` once the last choice is done or the
    /// request failed.
    async fn next_chunks(&mut self) -> Vec<Value> {
        let r = &self.reply;
        match self.rx.recv().await {
            Some(Event::Delta { choice, text, logprobs }) => {
                vec![r.body(vec![r.choice(choice, &text, &logprobs, None, true)], None, true)]
            }
            Some(Event::Done { choice, finish, completion_tokens }) => {
                self.finished += 1;
                self.completion_tokens += completion_tokens;
                let mut chunks = vec![r.body(vec![r.choice(choice, "", &[], Some(finish), true)], None, true)];
                if self.finished == r.n {
                    self.ended = true;
                    if r.include_usage {
                        chunks.push(r.body(Vec::new(), Some(r.usage(self.completion_tokens)), true));
                    }
                }
                chunks
            }
            Some(Event::Failed(why)) => {
                self.ended = true;
                vec![ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, why).body()]
            }
            Some(Event::Accepted { .. } | Event::Rejected(_)) | None => {
                self.ended = true;
                Vec::new()
            }
        }
    }
}

fn sse_data(chunk: &Value) -> SseEvent {
    SseEvent::default().data(chunk.to_string())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

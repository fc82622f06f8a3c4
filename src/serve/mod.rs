//! `rocmforge serve`: an OpenAI-compatible HTTP server (tokio + axum) over one model.
//!
//! The port is bound at once and answers 503 while the model loads on its own thread, which
//! then runs the continuous-batching `scheduler`. Handlers (`routes`) check a request
//! (`api`), queue it as a `Job` (429 when the queue is full) and stream what the scheduler
//! sends back. SIGTERM or Ctrl-C stops accepting connections, lets every request in flight
//! finish, and returns.

mod api;
mod error;
mod metrics;
mod routes;
mod scheduler;
mod stop;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::backend::DeviceSpec;
use crate::engine::{Engine, EngineError};
use metrics::Metrics;
use scheduler::Limits;
use scheduler::{Job, Scheduler};

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub model: PathBuf,
    /// The id clients name the model by (default: the file name without `.gguf`).
    pub alias: Option<String>,
    pub device: DeviceSpec,
    pub threads: usize,
    pub host: String,
    pub port: u16,
    pub parallel: usize,
    /// Positions of all sequences together; 0: the model's training context, at most 32768.
    pub n_ctx: usize,
    pub batch_tokens: usize,
    /// Requests that may wait for a slot before new ones get 429.
    pub max_queue: usize,
    pub api_key: Option<String>,
    /// A Jinja chat template used instead of the model's.
    pub chat_template: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {error}")]
    Bind { addr: String, error: std::io::Error },
    #[error("the server failed")]
    Io(#[from] std::io::Error),
    #[error("loading the model failed: {0}")]
    Load(String),
    #[error("{0}")]
    Invalid(String),
}

/// Where the model is: what `/health` and the handlers answer from.
#[derive(Debug, Clone)]
pub(crate) enum Readiness {
    Loading,
    Ready,
    Failed(String),
}

/// Runs the server until SIGTERM or Ctrl-C, and then until the requests in flight are done.
/// `on_listening` is told the bound address (the port may have been 0).
pub fn serve(opts: ServeOptions, on_listening: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    if opts.parallel == 0 || opts.batch_tokens == 0 {
        return Err(ServeError::Invalid("--parallel and --batch-size must be at least 1".into()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = runtime
        .block_on(TcpListener::bind((opts.host.as_str(), opts.port)))
        .map_err(|error| ServeError::Bind { addr: format!("{}:{}", opts.host, opts.port), error })?;
    on_listening(listener.local_addr()?);

    let metrics = Arc::new(Metrics::default());
    let (jobs, job_rx) = mpsc::channel::<Job>();
    let (ready_tx, ready) = watch::channel(Readiness::Loading);
    let engine_thread = {
        let (opts, metrics) = (opts.clone(), Arc::clone(&metrics));
        std::thread::Builder::new()
            .name("rocmforge-engine".into())
            .spawn(move || run_engine(&opts, metrics, job_rx, ready_tx))?
    };
    let model_id = opts.alias.clone().unwrap_or_else(|| model_id(&opts.model));
    let state = routes::AppState::new(model_id, opts.api_key.clone(), opts.max_queue, jobs, ready.clone(), metrics);
    let served = runtime.block_on(async {
        axum::serve(listener, routes::router(state)).with_graceful_shutdown(shutdown_signal(ready.clone())).await
    });
    // The router, and with it the job sender, is gone: the engine thread ends once idle.
    let engine_result = engine_thread.join().map_err(|_| ServeError::Load("the engine thread panicked".into()))?;
    served?;
    engine_result
}

/// Loads the model, reports readiness, and schedules jobs until the channel closes.
fn run_engine(
    opts: &ServeOptions,
    metrics: Arc<Metrics>,
    jobs: mpsc::Receiver<Job>,
    ready: watch::Sender<Readiness>,
) -> Result<(), ServeError> {
    let failed = |why: String| {
        let _ = ready.send(Readiness::Failed(why.clone()));
        ServeError::Load(why)
    };
    let (engine, limits) = load(opts).map_err(|e| failed(e.to_string()))?;
    let scheduler = Scheduler::new(&engine, limits, metrics).map_err(|e| failed(e.to_string()))?;
    eprintln!("{}; {} sequences of {} positions each", engine.device_note, limits.parallel, limits.n_ctx);
    let _ = ready.send(Readiness::Ready);
    scheduler.run(jobs);
    Ok(())
}

/// The model on its device, with the chat template asked for, and each slot's share of the context.
fn load(opts: &ServeOptions) -> Result<(Engine, Limits), EngineError> {
    let mut engine = Engine::load_on(&opts.model, opts.threads, opts.device)?;
    if let Some(t) = &opts.chat_template {
        engine.set_chat_template(t.clone());
    }
    let limits = limits(opts, &engine)?;
    Ok((engine, limits))
}

/// Each slot's share of the context (llama-server divides `-c` among `--parallel` the same way).
fn limits(opts: &ServeOptions, engine: &Engine) -> Result<Limits, EngineError> {
    let total = if opts.n_ctx == 0 { engine.model.config.n_ctx_train.min(32768) } else { opts.n_ctx };
    let n_ctx = total / opts.parallel;
    if n_ctx < 2 {
        return Err(EngineError::Invalid(format!(
            "a context of {total} positions gives {} sequences {n_ctx} each: raise -c or lower --parallel",
            opts.parallel
        )));
    }
    Ok(Limits { parallel: opts.parallel, n_ctx, batch_tokens: opts.batch_tokens })
}

fn model_id(path: &std::path::Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.strip_suffix(".gguf").unwrap_or(&name).to_owned()
}

/// Resolves at SIGTERM, Ctrl-C, or when the model fails to load.
async fn shutdown_signal(mut ready: watch::Receiver<Readiness>) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    let failed = ready.wait_for(|r| matches!(r, Readiness::Failed(_)));
    tokio::select! {
        _ = tokio::signal::ctrl_c() => eprintln!("interrupted: finishing the requests in flight"),
        _ = terminate => eprintln!("terminated: finishing the requests in flight"),
        _ = failed => {}
    }
}

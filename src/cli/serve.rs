use std::path::PathBuf;

use anyhow::Context;
use rocmforge::serve::{serve, ServeOptions};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: super::ModelArgs,
    /// The model's id in requests and /v1/models (default: the file name without .gguf).
    #[arg(short, long)]
    alias: Option<String>,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// 0 picks a free port (printed on stderr).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Sequences computed together; each gets -c / --parallel positions.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Context positions of all sequences together (0: the model's training context, at most 32768).
    #[arg(short = 'c', long = "ctx-size", default_value_t = 0)]
    ctx_size: usize,
    /// Tokens computed per step, decode and prompt chunks together.
    #[arg(short = 'b', long = "batch-size", default_value_t = 512)]
    batch_size: usize,
    /// Requests that may wait for a free sequence before new ones are refused with 429.
    #[arg(long, default_value_t = 256)]
    max_queue: usize,
    /// Requests to /v1 need `Authorization: Bearer KEY`.
    #[arg(long, env = "ROCMFORGE_API_KEY")]
    api_key: Option<String>,
    /// A Jinja chat template to use instead of the model's (models without one get ChatML).
    #[arg(long)]
    chat_template_file: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let chat_template = match &a.chat_template_file {
        Some(f) => Some(std::fs::read_to_string(f).with_context(|| format!("reading chat template {}", f.display()))?),
        None => None,
    };
    let model = a.model.path()?;
    let opts = ServeOptions {
        model,
        alias: a.alias,
        device: a.model.device,
        threads: a.model.threads,
        host: a.host,
        port: a.port,
        parallel: a.parallel,
        n_ctx: a.ctx_size,
        batch_tokens: a.batch_size,
        max_queue: a.max_queue,
        api_key: a.api_key,
        chat_template,
    };
    let model = opts.model.display().to_string();
    serve(opts, |addr| eprintln!("listening on http://{addr} (loading {model})")).context("serve")
}

use anyhow::Context;

use crate::tools::serve_bench::{run_load, LoadSpec};

#[derive(clap::Args)]
pub struct Args {
    /// The server's base address (any OpenAI-compatible server: rocmforge serve, llama-server).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long, env = "ROCMFORGE_API_KEY")]
    api_key: Option<String>,
    /// Concurrent clients, comma-separated: one run per level.
    #[arg(short, long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Requests per level (0: four per client).
    #[arg(short = 'n', long, default_value_t = 0)]
    requests: usize,
    /// Tokens each request generates (end of generation is ignored).
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    /// Words per prompt.
    #[arg(long, default_value_t = 64)]
    prompt_words: usize,
    /// One JSON object per level instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    anyhow::ensure!(a.concurrency.iter().all(|&c| c > 0), "--concurrency levels must be at least 1");
    anyhow::ensure!(a.max_tokens > 0, "--max-tokens must be at least 1");
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if !a.json {
        println!("| clients | requests | tokens | seconds | tokens/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |");
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    }
    for &concurrency in &a.concurrency {
        let spec = LoadSpec {
            url: a.url.clone(),
            api_key: a.api_key.clone(),
            concurrency,
            requests: if a.requests == 0 { 4 * concurrency } else { a.requests },
            max_tokens: a.max_tokens,
            prompt_words: a.prompt_words,
        };
        eprintln!("bench-serve: {} requests, {concurrency} at a time, against {}", spec.requests, a.url);
        let r = runtime
            .block_on(run_load(&spec))
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("load on {}", a.url))?;
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "| {} | {} | {} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                r.concurrency,
                r.requests,
                r.tokens,
                r.seconds,
                r.tokens_per_second,
                r.ttft_p50_ms,
                r.ttft_p99_ms,
                r.itl_p50_ms,
                r.itl_p99_ms
            );
        }
    }
    Ok(())
}

use anyhow::Context;
use rocmforge::engine::bench::BenchTest;
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: super::ModelArgs,
    /// Prompt sizes, comma-separated (pp tests).
    #[arg(short = 'p', long = "n-prompt", value_delimiter = ',', default_value = "512")]
    n_prompt: Vec<usize>,
    /// Generation lengths, comma-separated (tg tests).
    #[arg(short = 'n', long = "n-gen", value_delimiter = ',', default_value = "128")]
    n_gen: Vec<usize>,
    /// Depths, comma-separated: each test runs with the cache already holding this many
    /// positions (llama-bench's `-d`).
    #[arg(short = 'd', long = "n-depth", value_delimiter = ',', default_value = "0")]
    n_depth: Vec<usize>,
    /// Repetitions per test.
    #[arg(short, long, default_value_t = 5)]
    repetitions: usize,
    /// Output format: md (table) or json (llama-bench -o json).
    #[arg(short, long, default_value = "md", value_parser = ["md", "json"])]
    output: String,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let path = a.model.path()?;
    let engine = a.model.load()?;
    let backend = if engine.on_gpu() { "GPU" } else { "CPU" };
    let tests: Vec<BenchTest> = a
        .n_prompt
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| BenchTest::Prompt(n))
        .chain(a.n_gen.iter().filter(|&&n| n > 0).map(|&n| BenchTest::Generate(n)))
        .collect();
    // llama-bench's order: every test at the first depth, then at the next.
    let tests: Vec<(BenchTest, usize)> = a.n_depth.iter().flat_map(|&d| tests.iter().map(move |&t| (t, d))).collect();
    let model_size = engine.model.gguf.file_size();
    let params: u64 = engine.model.gguf.tensors().iter().map(|t| t.n_elements).sum();
    let file = path.display().to_string();
    let bar = rocmforge::progress::count_bar(tests.len() as u64, "bench");
    let mut rows = Vec::new();
    for &(t, depth) in &tests {
        let r = engine.bench(t, depth, a.repetitions).with_context(|| format!("running {}", t.name_at(depth)))?;
        bar.inc(1);
        rows.push((t, r));
    }
    bar.finish_and_clear();

    if a.output == "json" {
        let objs: Vec<_> = rows
            .iter()
            .map(|(_, r)| {
                json!({
                    "build_commit": env!("ROCMFORGE_BUILD_COMMIT"), "model_filename": file, "model_type": engine.model.config.name,
                    "model_size": model_size, "model_n_params": params, "backend": backend,
                    "n_threads": r.n_threads, "n_prompt": r.n_prompt, "n_gen": r.n_gen, "n_depth": r.n_depth,
                    "avg_ts": r.avg_ts, "stddev_ts": r.stddev_ts, "samples_ts": r.samples_ts,
                    "samples_ns": r.samples_ns,
                    "avg_ns": r.samples_ns.iter().sum::<u64>() / r.samples_ns.len().max(1) as u64,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&objs)?);
        return Ok(());
    }
    println!("| model | size | params | backend | threads | test | t/s |");
    println!("| --- | ---: | ---: | --- | ---: | ---: | ---: |");
    for (t, r) in rows {
        println!(
            "| {} | {:.2} MiB | {:.2} M | {backend} | {} | {} | {:.2} ± {:.2} |",
            engine.model.config.name,
            model_size as f64 / (1 << 20) as f64,
            params as f64 / 1e6,
            r.n_threads,
            t.name_at(r.n_depth),
            r.avg_ts,
            r.stddev_ts
        );
    }
    Ok(())
}

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use rocmforge::engine::chat::Message;
use rocmforge::engine::{GenerateOptions, SamplerConfig};
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: super::ModelArgs,
    /// Prompt text.
    #[arg(short, long, required_unless_present = "file")]
    prompt: Option<String>,
    /// Read the prompt from a file.
    #[arg(short, long, conflicts_with = "prompt")]
    file: Option<PathBuf>,
    /// Tokens to generate.
    #[arg(short = 'n', long = "n-predict", default_value_t = 128)]
    n_predict: usize,
    /// Context size (0: prompt + n-predict).
    #[arg(short = 'c', long = "ctx-size", default_value_t = 0)]
    ctx_size: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    temp: f32,
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95, allow_negative_numbers = true)]
    top_p: f32,
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    min_p: f32,
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    repeat_penalty: f32,
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    presence_penalty: f32,
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    frequency_penalty: f32,
    #[arg(long, default_value_t = 64)]
    repeat_last_n: usize,
    #[arg(short, long, default_value_t = 0)]
    seed: u64,
    /// Wrap the prompt in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// Keep generating past end-of-generation tokens.
    #[arg(long)]
    ignore_eos: bool,
    /// Print one JSON object with ids, text and speeds instead of streaming text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let sampler = SamplerConfig {
        temperature: a.temp,
        top_k: a.top_k,
        top_p: a.top_p,
        min_p: a.min_p,
        repeat_penalty: a.repeat_penalty,
        presence_penalty: a.presence_penalty,
        frequency_penalty: a.frequency_penalty,
        penalty_last_n: a.repeat_last_n,
        seed: a.seed,
    };
    // Before the model loads: a bad value should not cost the load.
    sampler.validate().map_err(anyhow::Error::msg)?;
    let engine = a.model.load()?;
    let raw = match (&a.prompt, &a.file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("reading prompt file {}", f.display()))?
        }
        (None, None) => anyhow::bail!("give a prompt with --prompt TEXT or --file FILE"),
    };
    let (prompt, prompt_ids) = if a.chat {
        let prompt = engine.chat_prompt(&[Message::user(raw)])?;
        let ids = engine.chat_ids(&prompt);
        (prompt, ids)
    } else {
        let ids = engine.tokenizer.encode(&raw, true, true);
        (raw, ids)
    };
    let opts = GenerateOptions { max_tokens: a.n_predict, n_ctx: a.ctx_size, sampler, stop_at_eog: !a.ignore_eos };

    if a.json {
        let g = engine.generate(&prompt_ids, &opts, |_| {})?;
        let out = json!({
            "prompt_ids": g.prompt_ids, "ids": g.ids, "text": g.text,
            "n_prompt": g.prompt_ids.len(), "n_gen": g.ids.len(),
            "prompt_tps": g.prompt_tps(), "gen_tps": g.gen_tps(),
        });
        println!("{out}");
        return Ok(());
    }

    let mut stdout = std::io::stdout();
    write!(stdout, "{prompt}")?;
    stdout.flush()?;
    let g = engine.generate(&prompt_ids, &opts, |text| {
        // A closed pipe (e.g. `| head`) must not abort generation with a panic.
        let mut stdout = std::io::stdout();
        let _ = write!(stdout, "{text}").and_then(|_| stdout.flush());
    })?;
    writeln!(stdout)?;
    eprintln!(
        "\nprompt: {} tokens, {:.1} tokens/s | generated: {} tokens, {:.1} tokens/s{}",
        g.prompt_ids.len(),
        g.prompt_tps(),
        g.ids.len(),
        g.gen_tps(),
        if g.stopped_on_eog { " (end of generation)" } else { "" }
    );
    Ok(())
}

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use rocmforge::gguf::Gguf;
use rocmforge::tokenizer::Tokenizer;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["prompt", "file", "stdin"])))]
pub struct Args {
    /// A GGUF model or vocabulary-only file.
    #[arg(short, long)]
    model: Option<PathBuf>,
    #[arg(short, long)]
    prompt: Option<String>,
    /// Read the text from a file (its bytes verbatim).
    #[arg(short, long)]
    file: Option<PathBuf>,
    /// Read the text from standard input.
    #[arg(long)]
    stdin: bool,
    /// Print only the ids, as one line `[id, id, …]`.
    #[arg(long)]
    ids: bool,
    /// Add no BOS/EOS (llama.cpp's add_special = false).
    #[arg(long)]
    no_bos: bool,
    /// Treat special-token text as plain text.
    #[arg(long)]
    no_parse_special: bool,
    /// Print the number of tokens.
    #[arg(long)]
    show_count: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let path = super::model_path(a.model)?;
    let g = Gguf::open(&path).with_context(|| format!("reading {}", path.display()))?;
    let tok = Tokenizer::from_gguf(&g).with_context(|| format!("loading the vocabulary of {}", path.display()))?;
    let bytes = match (&a.prompt, &a.file) {
        (Some(p), _) => p.clone().into_bytes(),
        (None, Some(f)) => std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
        (None, None) => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
            buf
        }
    };
    let text = String::from_utf8(bytes).context("the input is not valid UTF-8")?;
    let ids = tok.encode(&text, !a.no_bos, !a.no_parse_special);
    if a.ids {
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        println!("[{}]", list.join(", "));
    } else {
        for &id in &ids {
            let piece = String::from_utf8_lossy(&tok.token_to_piece(id, true)).into_owned();
            println!("{id:6} -> '{piece}'");
        }
    }
    if a.show_count {
        println!("Total number of tokens: {}", ids.len());
    }
    Ok(())
}

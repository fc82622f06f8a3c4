//! Chat prompts from the model's own `tokenizer.chat_template` (Jinja, rendered by minijinja
//! with Python-compatible string methods, as the templates on the Hub expect).

use minijinja::{context, Environment, Error, ErrorKind};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("the model has no tokenizer.chat_template")]
    NoTemplate,
    #[error("chat template failed: {0}")]
    Template(String),
}

/// Renders `messages` with `add_generation_prompt = true`.
pub fn apply_template(template: &str, messages: &[Message], bos: &str, eos: &str) -> Result<String, ChatError> {
    let mut env = Environment::new();
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |msg: String| -> Result<String, Error> {
        Err(Error::new(ErrorKind::InvalidOperation, msg))
    });
    env.add_function("strftime_now", |fmt: String| -> String {
        // Templates use it for "today's date"; a fixed, documented date keeps prompts reproducible.
        fmt.replace("%d", "01").replace("%m", "01").replace("%Y", "2025").replace("%b", "Jan").replace("%B", "January")
    });
    env.add_template("chat", template).map_err(|e| ChatError::Template(e.to_string()))?;
    let tmpl = env.get_template("chat").map_err(|e| ChatError::Template(e.to_string()))?;
    tmpl.render(context! {
        messages => messages,
        add_generation_prompt => true,
        bos_token => bos,
        eos_token => eos,
    })
    .map_err(|e| ChatError::Template(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Vec<Message> {
        vec![Message { role: "user".into(), content: text.into() }]
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/chat-templates/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn gemma_template_formats_a_turn() {
        let out = apply_template(&fixture("google-gemma-2-2b-it.jinja"), &user("Hi"), "<bos>", "<eos>").unwrap();
        assert_eq!(out, "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
    }

    #[test]
    fn every_reference_template_renders() {
        for name in [
            "Mistral-Small-3.2-24B-Instruct-2506.jinja",
            "Qwen-Qwen2.5-7B-Instruct.jinja",
            "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
            "google-gemma-2-2b-it.jinja",
            "meta-llama-Llama-3.1-8B-Instruct.jinja",
        ] {
            let out = apply_template(&fixture(name), &user("What is 2+2?"), "<s>", "</s>")
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(out.contains("What is 2+2?"), "{name}: {out}");
        }
    }

    #[test]
    fn template_errors_are_reported() {
        let err = apply_template("{{ raise_exception('no system role') }}", &user("x"), "", "").unwrap_err();
        assert!(err.to_string().contains("no system role"), "{err}");
    }
}

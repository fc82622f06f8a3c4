//! Chat prompts from the model's own `tokenizer.chat_template` (Jinja, rendered by minijinja
//! with Python-compatible string methods, as the templates on the Hub expect).

use minijinja::{context, Environment, Error, ErrorKind};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Message { role: "user".into(), content: content.into() }
    }
}

/// The template for Gemma models that carry none: Gemma 3's turns (a system message opens the
/// first user turn).
pub const GEMMA: &str = "{{ bos_token }}\
{%- if messages[0]['role'] == 'system' -%}{%- set first = messages[0]['content'] + '\\n\\n' -%}\
{%- set turns = messages[1:] -%}{%- else -%}{%- set first = '' -%}{%- set turns = messages -%}{%- endif -%}\
{%- for message in turns -%}{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}\
{{ '<start_of_turn>' + role + '\\n' + (first if loop.first else '') + message['content'] | trim + '<end_of_turn>\\n' }}\
{%- endfor -%}{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}";

/// The template for other models that carry none: ChatML, as llama.cpp falls back to.
pub const CHATML: &str = "{%- for message in messages -%}\
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}\
{%- endfor -%}\
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
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
        vec![Message::user(text)]
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
    fn gemma_fallback_folds_the_system_message_into_the_first_turn() {
        let mut messages = vec![Message { role: "system".into(), content: "Be brief.".into() }];
        messages.extend(user("Hi"));
        messages.push(Message { role: "assistant".into(), content: "Hello!".into() });
        messages.extend(user("Bye"));
        let out = apply_template(GEMMA, &messages, "<bos>", "").unwrap();
        assert_eq!(
            out,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n\
             <start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn chatml_is_llama_cpps_fallback() {
        let out = apply_template(CHATML, &user("Hi"), "", "").unwrap();
        assert_eq!(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn template_errors_are_reported() {
        let err = apply_template("{{ raise_exception('no system role') }}", &user("x"), "", "").unwrap_err();
        assert!(err.to_string().contains("no system role"), "{err}");
    }
}

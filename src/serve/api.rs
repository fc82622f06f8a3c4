//! The OpenAI request bodies the server accepts, checked into a `Job`'s parameters: every field
//! a client may send is typed here, and every value out of its range is a 400 naming it.
//! Fields clients send that change nothing here (`user`, `logit_bias`, …) are ignored, as
//! llama-server and vLLM ignore them.

use serde::Deserialize;

use super::error::ApiError;
use crate::engine::chat::Message;
use crate::engine::SamplerConfig;

/// `stop`: one string or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// The sampling and stopping fields shared by both endpoints.
#[derive(Debug, Deserialize)]
pub struct Common {
    pub model: Option<String>,
    pub max_tokens: Option<i64>,
    /// The chat endpoint's newer name for `max_tokens`.
    pub max_completion_tokens: Option<i64>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<i64>,
    pub min_p: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    /// llama-server's multiplicative penalty.
    pub repeat_penalty: Option<f32>,
    pub seed: Option<u64>,
    pub stop: Option<Stop>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<i64>,
    /// llama-server's and vLLM's: keep generating past end-of-generation tokens.
    #[serde(default)]
    pub ignore_eos: bool,
    /// llama-server's: whether the prompt may reuse (and leave behind) cached KV entries.
    pub cache_prompt: Option<bool>,
}

/// A chat message's content: a string, or a list of parts of which the text ones count.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: Option<Content>,
}

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    #[serde(flatten)]
    pub common: Common,
    #[serde(default)]
    pub logprobs: bool,
    pub top_logprobs: Option<i64>,
}

/// `prompt`: text, or token ids.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    Text(String),
    Tokens(Vec<u32>),
    Texts(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub prompt: PromptField,
    #[serde(flatten)]
    pub common: Common,
    /// How many top alternatives to return per token (the legacy endpoint's form).
    pub logprobs: Option<i64>,
    #[serde(default)]
    pub echo: bool,
    pub suffix: Option<String>,
}

/// What to generate from.
#[derive(Debug, Clone)]
pub enum Prompt {
    /// Raw text, tokenized with the model's BOS.
    Text(String),
    Tokens(Vec<u32>),
    /// Rendered with the model's chat template.
    Chat(Vec<Message>),
}

/// A request's checked parameters.
#[derive(Debug, Clone)]
pub struct Params {
    /// None: until end of generation or the sequence's context is full.
    pub max_tokens: Option<usize>,
    pub sampler: SamplerConfig,
    pub stop: Vec<String>,
    /// Top alternatives per token, when log-probabilities are asked for.
    pub logprobs: Option<usize>,
    pub n: usize,
    pub ignore_eos: bool,
    pub cache_prompt: bool,
    pub stream: bool,
    pub include_usage: bool,
}

/// Most choices one request may ask for.
pub const MAX_N: usize = 16;
/// Most stop strings (OpenAI's limit).
pub const MAX_STOP: usize = 4;
/// Most log-probability alternatives per token (OpenAI's chat limit).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// Parses a JSON body into `T`: syntax and type errors are 400s naming the place.
pub fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid request body: {e}"), None))
}

impl ChatRequest {
    pub fn prompt(&self) -> Result<Prompt, ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::bad_request("'messages' must hold at least one message", Some("messages")));
        }
        let messages = self
            .messages
            .iter()
            .map(|m| {
                let content = match &m.content {
                    None => String::new(),
                    Some(Content::Text(t)) => t.clone(),
                    Some(Content::Parts(parts)) => {
                        let mut text = String::new();
                        for p in parts {
                            match (p.kind.as_str(), &p.text) {
                                ("text", Some(t)) => text.push_str(t),
                                (kind, _) => {
                                    return Err(ApiError::bad_request(
                                        format!(
                                            "content parts of type '{kind}' are not supported: this model reads text"
                                        ),
                                        Some("messages"),
                                    ))
                                }
                            }
                        }
                        text
                    }
                };
                Ok(Message { role: m.role.clone(), content })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Prompt::Chat(messages))
    }

    pub fn params(&self) -> Result<Params, ApiError> {
        let logprobs = match (self.logprobs, self.top_logprobs) {
            (false, Some(_)) => {
                return Err(ApiError::bad_request("'top_logprobs' needs 'logprobs': true", Some("top_logprobs")))
            }
            (false, None) => None,
            (true, k) => Some(count("top_logprobs", k.unwrap_or(0), 0, MAX_TOP_LOGPROBS)?),
        };
        let max = self.common.max_completion_tokens.or(self.common.max_tokens);
        self.common.params(max, logprobs)
    }
}

impl CompletionRequest {
    pub fn prompt(&self) -> Result<Prompt, ApiError> {
        if self.echo {
            return Err(ApiError::bad_request("'echo' is not supported", Some("echo")));
        }
        if self.suffix.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::bad_request(
                "'suffix' is not supported: this model is not an infill model",
                Some("suffix"),
            ));
        }
        match &self.prompt {
            PromptField::Text(t) => Ok(Prompt::Text(t.clone())),
            PromptField::Tokens(ids) => Ok(Prompt::Tokens(ids.clone())),
            PromptField::Texts(list) if list.len() == 1 => Ok(Prompt::Text(list[0].clone())),
            PromptField::Texts(_) => Err(ApiError::bad_request(
                "one prompt per request: send several requests (they run concurrently)",
                Some("prompt"),
            )),
        }
    }

    pub fn params(&self) -> Result<Params, ApiError> {
        let logprobs = self.logprobs.map(|k| count("logprobs", k, 0, MAX_TOP_LOGPROBS)).transpose()?;
        self.common.params(self.common.max_tokens, logprobs)
    }
}

impl Common {
    fn params(&self, max_tokens: Option<i64>, logprobs: Option<usize>) -> Result<Params, ApiError> {
        let d = SamplerConfig::default();
        let temperature = self.temperature.unwrap_or(d.temperature);
        range("temperature", temperature, 0.0, 2.0)?;
        let top_p = self.top_p.unwrap_or(d.top_p);
        range("top_p", top_p, 0.0, 1.0)?;
        let min_p = self.min_p.unwrap_or(d.min_p);
        range("min_p", min_p, 0.0, 1.0)?;
        let presence_penalty = self.presence_penalty.unwrap_or(0.0);
        range("presence_penalty", presence_penalty, -2.0, 2.0)?;
        let frequency_penalty = self.frequency_penalty.unwrap_or(0.0);
        range("frequency_penalty", frequency_penalty, -2.0, 2.0)?;
        let repeat_penalty = self.repeat_penalty.unwrap_or(1.0);
        if !(repeat_penalty.is_finite() && repeat_penalty > 0.0) {
            return Err(ApiError::bad_request(
                format!("'repeat_penalty' must be positive (1 disables it), got {repeat_penalty}"),
                Some("repeat_penalty"),
            ));
        }
        // vLLM's -1 and llama-server's 0 both mean "no top-k".
        let top_k = match self.top_k {
            None => d.top_k,
            Some(k) if (-1..=0).contains(&k) => 0,
            Some(k) => count("top_k", k, 1, u32::MAX as usize)?,
        };
        let max_tokens = max_tokens.map(|m| count("max_tokens", m, 1, usize::MAX)).transpose()?;
        let n = count("n", self.n.unwrap_or(1), 1, MAX_N)?;
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        if stop.len() > MAX_STOP || stop.iter().any(String::is_empty) {
            return Err(ApiError::bad_request(
                format!("'stop' takes at most {MAX_STOP} non-empty strings"),
                Some("stop"),
            ));
        }
        if self.stream_options.is_some() && !self.stream {
            return Err(ApiError::bad_request("'stream_options' needs 'stream': true", Some("stream_options")));
        }
        let sampler = SamplerConfig {
            temperature,
            top_k,
            top_p,
            min_p,
            repeat_penalty,
            presence_penalty,
            frequency_penalty,
            seed: self.seed.unwrap_or_else(rand::random),
            ..d
        };
        Ok(Params {
            max_tokens,
            sampler,
            stop,
            logprobs,
            n,
            ignore_eos: self.ignore_eos,
            cache_prompt: self.cache_prompt.unwrap_or(true),
            stream: self.stream,
            include_usage: self.stream_options.as_ref().is_some_and(|o| o.include_usage),
        })
    }
}

fn range(name: &str, v: f32, lo: f32, hi: f32) -> Result<(), ApiError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("'{name}' must be between {lo} and {hi}, got {v}"), Some(name)))
    }
}

fn count(name: &str, v: i64, lo: usize, hi: usize) -> Result<usize, ApiError> {
    match usize::try_from(v) {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ if hi == usize::MAX => {
            Err(ApiError::bad_request(format!("'{name}' must be at least {lo}, got {v}"), Some(name)))
        }
        _ => Err(ApiError::bad_request(format!("'{name}' must be between {lo} and {hi}, got {v}"), Some(name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(body: &str) -> Result<Params, ApiError> {
        parse::<ChatRequest>(body.as_bytes())?.params()
    }

    #[test]
    fn defaults_are_llama_cpps() {
        let p = chat(r#"{"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!((p.sampler.top_k, p.sampler.top_p, p.sampler.min_p), (40, 0.95, 0.05));
        assert_eq!((p.n, p.max_tokens, p.logprobs, p.cache_prompt), (1, None, None, true));
    }

    #[test]
    fn values_out_of_range_name_their_field() {
        for (body, field) in [
            (r#"{"messages":[],"temperature":3}"#, "temperature"),
            (r#"{"messages":[],"top_p":1.5}"#, "top_p"),
            (r#"{"messages":[],"max_tokens":0}"#, "max_tokens"),
            (r#"{"messages":[],"max_tokens":-5}"#, "max_tokens"),
            (r#"{"messages":[],"n":100}"#, "n"),
            (r#"{"messages":[],"top_k":-7}"#, "top_k"),
            (r#"{"messages":[],"stop":["a","b","c","d","e"]}"#, "stop"),
            (r#"{"messages":[],"logprobs":true,"top_logprobs":21}"#, "top_logprobs"),
            (r#"{"messages":[],"top_logprobs":2}"#, "top_logprobs"),
        ] {
            let err = chat(body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(field), "{body}: {err:?}");
        }
    }

    #[test]
    fn wrong_types_are_bad_requests() {
        for body in [r#"{"messages":"hi"}"#, r#"{"messages":[],"temperature":"hot"}"#, "{", ""] {
            let err = parse::<ChatRequest>(body.as_bytes()).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{body}");
            assert!(err.message.starts_with("invalid request body"), "{body}: {}", err.message);
        }
    }

    #[test]
    fn content_parts_and_prompt_forms() {
        let req: ChatRequest = parse(
            br#"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}"#,
        )
        .unwrap();
        let Prompt::Chat(m) = req.prompt().unwrap() else { panic!("a chat prompt") };
        assert_eq!(m[0].content, "ab");
        let req: CompletionRequest = parse(br#"{"prompt":[1,2,3],"stop":"x"}"#).unwrap();
        assert!(matches!(req.prompt().unwrap(), Prompt::Tokens(t) if t == [1, 2, 3]));
        assert_eq!(req.params().unwrap().stop, ["x"]);
        let req: CompletionRequest = parse(br#"{"prompt":["a","b"]}"#).unwrap();
        assert!(req.prompt().is_err());
    }
}

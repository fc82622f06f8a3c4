//! The vocabulary read from GGUF metadata: token texts, scores and attributes, the text → id map,
//! special token ids, tokenizer flags and the end-of-generation set, following
//! `llama_vocab::impl::load` in llama.cpp's `src/llama-vocab.cpp`.

use std::collections::{BTreeSet, HashMap};

use crate::gguf::{Array, Gguf, GgufError};

use super::pretokenize::{pre_spec, PreSpec};
use super::{TokenId, TokenizerError};

/// `llama_token_attr` bits.
pub(crate) mod attr {
    pub const UNKNOWN: u32 = 1 << 0;
    pub const UNUSED: u32 = 1 << 1;
    pub const NORMAL: u32 = 1 << 2;
    pub const CONTROL: u32 = 1 << 3;
    pub const USER_DEFINED: u32 = 1 << 4;
    pub const BYTE: u32 = 1 << 5;
    pub const LSTRIP: u32 = 1 << 7;
    pub const RSTRIP: u32 = 1 << 8;
}

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// SentencePiece-style ("llama").
    Spm,
    /// Byte-level BPE ("gpt2").
    Bpe,
}

pub(crate) struct Vocab {
    pub kind: Kind,
    pub pre: String,
    pub texts: Vec<String>,
    pub scores: Vec<f32>,
    pub attrs: Vec<u32>,
    pub token_to_id: HashMap<String, TokenId>,
    /// `(left, right)` → merge rank; the first occurrence of a pair wins (llama.cpp `emplace`).
    pub bpe_ranks: HashMap<(String, String), u32>,
    pub bpe_pre: Option<PreSpec>,
    pub bos: Option<TokenId>,
    pub eos: Option<TokenId>,
    pub eot: Option<TokenId>,
    pub unk: Option<TokenId>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    pub clean_spaces: bool,
    pub ignore_merges: bool,
    pub eog: BTreeSet<TokenId>,
    /// Control, user-defined and unknown tokens, longest text first (`cache_special_tokens`).
    pub special_tokens: Vec<TokenId>,
}

fn gguf_err(key: &str, e: GgufError) -> TokenizerError {
    match e {
        GgufError::MissingKey(_) => TokenizerError::MissingKey(key.to_string()),
        other => TokenizerError::InvalidMetadata { key: key.to_string(), problem: other.to_string() },
    }
}

fn invalid(key: &str, problem: impl Into<String>) -> TokenizerError {
    TokenizerError::InvalidMetadata { key: key.to_string(), problem: problem.into() }
}

fn opt_bool(g: &Gguf, key: &str) -> Result<Option<bool>, TokenizerError> {
    g.opt(key, Gguf::get_bool).map_err(|e| gguf_err(key, e))
}

fn opt_str<'g>(g: &'g Gguf, key: &str) -> Result<Option<&'g str>, TokenizerError> {
    match g.get(key) {
        None => Ok(None),
        Some(v) => {
            v.as_str().map(Some).ok_or_else(|| invalid(key, format!("expected a string, found {}", v.type_name())))
        }
    }
}

fn string_array<'g>(g: &'g Gguf, key: &str) -> Result<&'g [String], TokenizerError> {
    match g.get_array(key).map_err(|e| gguf_err(key, e))? {
        Array::String(v) => Ok(v),
        _ => Err(invalid(key, "expected an array of strings")),
    }
}

/// Token texts that llama.cpp treats as end-of-generation (besides eos/eot/eom and FIM pad/rep/sep).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const FIM_PRE: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP: &[&str] = &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const FIM_SEP: &[&str] = &["<|file_sep|>"];

impl Vocab {
    pub(crate) fn load(g: &Gguf) -> Result<Self, TokenizerError> {
        let model = g.get_str(KEY_MODEL).map_err(|e| gguf_err(KEY_MODEL, e))?;
        let pre = opt_str(g, KEY_PRE)?.unwrap_or("").to_string();

        // Defaults per model type; `None` stands for LLAMA_TOKEN_NULL.
        let (kind, mut bos, mut eos, mut unk): (Kind, Option<i64>, Option<i64>, Option<i64>) = match model {
            "llama" => (Kind::Spm, Some(1), Some(2), Some(0)),
            "gpt2" => (Kind::Bpe, Some(11), Some(11), None),
            other => return Err(TokenizerError::UnknownModel(other.to_string())),
        };
        let (mut add_space_prefix, mut clean_spaces, mut add_bos, mut add_eos, mut ignore_merges) =
            (true, false, true, false, false);
        let mut bpe_pre = None;
        if kind == Kind::Bpe {
            let spec = pre_spec(&pre)?;
            add_space_prefix = false;
            clean_spaces = spec.clean_spaces;
            ignore_merges = spec.ignore_merges;
            add_bos = spec.add_bos;
            add_eos = false;
            if spec.no_bos {
                bos = None;
            }
            bpe_pre = Some(spec);
        }
        if let Some(v) = opt_bool(g, "tokenizer.ggml.add_space_prefix")? {
            add_space_prefix = v;
        }

        let texts_in = string_array(g, KEY_TOKENS)?;
        let n = texts_in.len();
        if u32::try_from(n).is_err() {
            return Err(invalid(KEY_TOKENS, format!("{n} tokens do not fit 32-bit ids")));
        }
        let scores: Vec<f32> = match g.get(KEY_SCORES).map(|v| v.as_array()) {
            None => vec![0.0; n],
            Some(Some(Array::F32(s))) if s.len() >= n => s[..n].to_vec(),
            Some(Some(Array::I32(s))) if s.len() >= n => s[..n].iter().map(|&x| x as f32).collect(),
            Some(Some(Array::F32(_) | Array::I32(_))) => return Err(invalid(KEY_SCORES, "fewer scores than tokens")),
            Some(_) => return Err(invalid(KEY_SCORES, "expected an array of f32 or i32")),
        };
        let mut attrs: Vec<u32> = match g.get(KEY_TOKEN_TYPE).map(|v| v.as_array()) {
            None => vec![attr::NORMAL; n],
            Some(Some(Array::I32(t))) if t.len() >= n => t[..n].iter().map(|&t| type_to_attr(t)).collect(),
            Some(Some(Array::I32(_))) => return Err(invalid(KEY_TOKEN_TYPE, "fewer token types than tokens")),
            Some(_) => return Err(invalid(KEY_TOKEN_TYPE, "expected an array of i32")),
        };

        let mut texts = Vec::with_capacity(n);
        let mut token_to_id = HashMap::with_capacity(n);
        for (i, t) in texts_in.iter().enumerate() {
            let text = if t.is_empty() { format!("[EMPTY_{i}]") } else { t.clone() };
            token_to_id.insert(text.clone(), i as TokenId);
            texts.push(text);
        }

        let mut bpe_ranks = HashMap::new();
        if kind == Kind::Bpe {
            for (rank, merge) in string_array(g, KEY_MERGES)?.iter().enumerate() {
                // llama.cpp splits at the first space after the first byte; no space → ("", "").
                let space = merge.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1);
                let (first, second) = match space {
                    Some(p) => (merge[..p].to_string(), merge[p + 1..].to_string()),
                    None => (String::new(), String::new()),
                };
                bpe_ranks.entry((first, second)).or_insert(rank as u32);
            }
        }

        // Special token ids: defaults out of range are disabled; bad metadata values keep the default.
        let in_range = |id: Option<i64>| id.filter(|&i| i >= 0 && (i as usize) < n);
        bos = in_range(bos);
        eos = in_range(eos);
        unk = in_range(unk);
        let read_id = |key: &str, cur: &mut Option<i64>| {
            let value = g.get(&format!("tokenizer.ggml.{key}")).and_then(|v| v.as_i64());
            if let Some(id) = value.filter(|&i| (0..n as i64).contains(&i)) {
                *cur = Some(id);
            }
        };
        let (mut eot, mut eom) = (None, None);
        let (mut fim_pre, mut fim_suf, mut fim_mid, mut fim_pad, mut fim_rep, mut fim_sep) =
            (None, None, None, None, None, None);
        read_id("bos_token_id", &mut bos);
        read_id("eos_token_id", &mut eos);
        read_id("eot_token_id", &mut eot);
        read_id("eom_token_id", &mut eom);
        read_id("unknown_token_id", &mut unk);
        read_id("fim_pre_token_id", &mut fim_pre);
        read_id("fim_suf_token_id", &mut fim_suf);
        read_id("fim_mid_token_id", &mut fim_mid);
        read_id("fim_pad_token_id", &mut fim_pad);
        read_id("fim_rep_token_id", &mut fim_rep);
        read_id("fim_sep_token_id", &mut fim_sep);
        read_id("prefix_token_id", &mut fim_pre);
        read_id("suffix_token_id", &mut fim_suf);
        read_id("middle_token_id", &mut fim_mid);

        if let Some(v) = opt_bool(g, "tokenizer.ggml.add_bos_token")? {
            add_bos = v;
        }
        if let Some(v) = opt_bool(g, "tokenizer.ggml.add_eos_token")? {
            add_eos = v;
        }

        // Auto-detection by text. llama.cpp walks a hash map, so which of several candidates it
        // picks is unspecified; the lowest id is taken here.
        let detect = |slot: &mut Option<i64>, names: &[&str], attrs: &mut Vec<u32>| {
            if slot.is_some() {
                return;
            }
            let found = names.iter().filter_map(|t| token_to_id.get(*t)).min().copied();
            if let Some(id) = found {
                *slot = Some(id.into());
                attrs[id as usize] |= attr::CONTROL;
            }
        };
        detect(&mut eot, EOT_TEXTS, &mut attrs);
        detect(&mut eom, &["<|eom_id|>"], &mut attrs);
        detect(&mut fim_pre, FIM_PRE, &mut attrs);
        detect(&mut fim_suf, FIM_SUF, &mut attrs);
        detect(&mut fim_mid, FIM_MID, &mut attrs);
        detect(&mut fim_pad, FIM_PAD, &mut attrs);
        detect(&mut fim_rep, FIM_REP, &mut attrs);
        detect(&mut fim_sep, FIM_SEP, &mut attrs);

        // Control tokens whose text contains "unused" are unused.
        for (a, t) in attrs.iter_mut().zip(&texts) {
            if *a & attr::CONTROL != 0 && t.contains("unused") {
                *a |= attr::UNUSED;
            }
        }

        let as_id = |x: Option<i64>| x.map(|v| v as TokenId);
        let mut eog: BTreeSet<TokenId> = [fim_pad, fim_rep, fim_sep].into_iter().filter_map(as_id).collect();
        for name in EOG_TEXTS {
            if let Some(&id) = token_to_id.get(*name) {
                eog.insert(id);
                attrs[id as usize] |= attr::CONTROL;
            }
        }
        // gpt-oss: always render these.
        for name in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let Some(&id) = token_to_id.get(name) {
                attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        eog.extend([eos, eot, eom].into_iter().filter_map(as_id));
        // o200k_harmony / solar-open: "<|end|>" is not end-of-generation there.
        let eog_has = |eog: &BTreeSet<TokenId>, t: &str| eog.iter().any(|&id| texts[id as usize] == t);
        if let Some(&end_id) = eog.iter().find(|&&id| texts[id as usize] == "<|end|>") {
            let has_call = eog_has(&eog, "<|call|>") || eog_has(&eog, "<|calls|>");
            if has_call && (eog_has(&eog, "<|return|>") || eog_has(&eog, "<|flush|>")) {
                eog.remove(&end_id);
                attrs[end_id as usize] = attr::USER_DEFINED;
            }
        }
        if eog_has(&eog, "<|tool_response>") || eog_has(&eog, "<|plamo:eos|>") {
            if let Some(&s_id) = eog.iter().find(|&&id| texts[id as usize] == "</s>") {
                eog.remove(&s_id);
                attrs[s_id as usize] = attr::NORMAL;
            }
        }

        let mut special_tokens: Vec<TokenId> = (0..n as TokenId)
            .filter(|&id| attrs[id as usize] & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0)
            .collect();
        special_tokens.sort_by(|&a, &b| texts[b as usize].len().cmp(&texts[a as usize].len()));

        apply_model_specific_attrs(g, &pre, &token_to_id, &special_tokens, &mut attrs)?;

        Ok(Vocab {
            kind,
            pre,
            texts,
            scores,
            attrs,
            token_to_id,
            bpe_ranks,
            bpe_pre,
            bos: as_id(bos),
            eos: as_id(eos),
            eot: as_id(eot),
            unk: as_id(unk),
            add_bos,
            add_eos,
            add_space_prefix,
            clean_spaces,
            ignore_merges,
            eog,
            special_tokens,
        })
    }

    pub(crate) fn text_to_token(&self, text: &str) -> Option<TokenId> {
        self.token_to_id.get(text).copied()
    }

    pub(crate) fn attr(&self, id: TokenId) -> u32 {
        self.attrs.get(id as usize).copied().unwrap_or(0)
    }

    pub(crate) fn len(&self) -> usize {
        self.texts.len()
    }
}

/// `LLAMA_TOKEN_TYPE_*` → `LLAMA_TOKEN_ATTR_*`.
fn type_to_attr(t: i32) -> u32 {
    match t {
        1 => attr::NORMAL,
        2 => attr::UNKNOWN,
        3 => attr::CONTROL,
        4 => attr::USER_DEFINED,
        5 => attr::UNUSED,
        6 => attr::BYTE,
        _ => 0,
    }
}

/// Per-model lstrip/rstrip attributes that llama.cpp sets by model or pre-tokenizer name.
fn apply_model_specific_attrs(
    g: &Gguf,
    pre: &str,
    token_to_id: &HashMap<String, TokenId>,
    special_tokens: &[TokenId],
    attrs: &mut [u32],
) -> Result<(), TokenizerError> {
    let name = opt_str(g, "general.name")?.unwrap_or("").to_lowercase();
    let arch = opt_str(g, "general.architecture")?.unwrap_or("");
    let any = |s: &str, subs: &[&str]| subs.iter().any(|x| s.contains(x));
    let set = |attrs: &mut [u32], text: &str, bit: u32, on: bool| {
        if let Some(&id) = token_to_id.get(text) {
            let a = &mut attrs[id as usize];
            *a = if on { *a | bit } else { *a & !bit };
        }
    };
    if any(pre, &["jina-v2-de", "jina-v2-es", "jina-v2-code"]) || any(arch, &["nomic-bert-moe", "jina-bert-v3"]) {
        set(attrs, "<mask>", attr::LSTRIP, true);
    } else if any(&name, &["phi-3", "phi3"]) {
        for &id in special_tokens {
            attrs[id as usize] |= attr::RSTRIP;
        }
        set(attrs, "</s>", attr::RSTRIP, true);
        for t in ["<unk>", "<s>", "<|endoftext|>"] {
            set(attrs, t, attr::RSTRIP, false);
        }
    } else if name.contains("modern-bert") {
        set(attrs, "[MASK]", attr::LSTRIP, true);
    }
    Ok(())
}

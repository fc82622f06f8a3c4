//! Tokenizer reproducing llama.cpp's `llama_tokenize` / `llama_token_to_piece` /
//! `llama_detokenize` for GGUF vocabularies: SentencePiece-style ("llama") and byte-level BPE
//! ("gpt2") with llama.cpp's per-model pre-tokenizers.
//!
//! The specification is llama.cpp's `src/llama-vocab.cpp` and `src/unicode.cpp`; the modules
//! mirror its parts: [`vocab`] (metadata), [`special`] (special-token partitioning), [`spm`],
//! [`bpe`] and [`pretokenize`] (regex splitting with llama.cpp's Unicode categories).

mod bpe;
mod merge;
mod pretokenize;
mod special;
mod spm;
#[rustfmt::skip]
mod vocab;

use special::Fragment;
use vocab::{attr, Kind, Vocab};

pub type TokenId = u32;

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("tokenizer metadata key {0:?} is missing")]
    MissingKey(String),
    #[error("tokenizer metadata key {key:?} is invalid: {problem}")]
    InvalidMetadata { key: String, problem: String },
    #[error("unknown tokenizer model {0:?} (tokenizer.ggml.model; supported: \"llama\", \"gpt2\")")]
    UnknownModel(String),
    #[error("unknown pre-tokenizer type {0:?} (tokenizer.ggml.pre)")]
    UnknownPreTokenizer(String),
    #[error("pre-tokenizer type {0:?} (tokenizer.ggml.pre) needs custom splitting that is not implemented")]
    UnsupportedPreTokenizer(String),
    #[error("pre-tokenizer {pre:?}: bad split expression {problem}")]
    Regex { pre: String, problem: String },
}

pub struct Tokenizer {
    vocab: Vocab,
    pre: Option<pretokenize::PreTokenizer>,
}

const SPACE_ESCAPE: &str = "\u{2581}";

impl Tokenizer {
    pub fn from_gguf(g: &crate::gguf::Gguf) -> Result<Self, TokenizerError> {
        let vocab = Vocab::load(g)?;
        let pre = match &vocab.bpe_pre {
            Some(spec) => Some(pretokenize::PreTokenizer::new(&vocab.pre, spec.patterns)?),
            None => None,
        };
        tracing::debug!(
            n_vocab = vocab.len(),
            kind = ?vocab.kind,
            pre = vocab.pre,
            n_special = vocab.special_tokens.len(),
            "tokenizer loaded"
        );
        Ok(Tokenizer { vocab, pre })
    }

    /// `llama_tokenize(text, add_special, parse_special)`: BOS/EOS are added as the metadata says
    /// when `add_special`; special tokens in the text are recognised when `parse_special`
    /// (user-defined tokens always are).
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<TokenId> {
        let v = &self.vocab;
        let fragments = special::partition(v, text, parse_special);
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && v.add_bos {
            out.extend(v.bos);
        }
        match v.kind {
            Kind::Spm => {
                // A space is prefixed to text at the start and after each special token.
                let mut prev_special = true;
                let mut buf = String::new();
                for frag in &fragments {
                    match frag {
                        Fragment::Text(r) => {
                            buf.clear();
                            if v.add_space_prefix && prev_special {
                                buf.push(' ');
                            }
                            buf.push_str(&text[r.clone()]);
                            let escaped = buf.replace(' ', SPACE_ESCAPE);
                            spm::tokenize(v, &escaped, &mut out);
                            prev_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(*id);
                            prev_special = true;
                        }
                    }
                }
            }
            Kind::Bpe => {
                for frag in &fragments {
                    match frag {
                        Fragment::Text(r) => self.bpe_tokenize(&text[r.clone()], &mut out),
                        Fragment::Token(id) => out.push(*id),
                    }
                }
            }
        }
        if add_special && v.add_eos {
            out.extend(v.eos);
        }
        out
    }

    fn bpe_tokenize(&self, text: &str, out: &mut Vec<TokenId>) {
        let Some(pre) = &self.pre else { return };
        for word in pre.split(text) {
            bpe::tokenize_word(&self.vocab, &bpe::byte_encode(word), out);
        }
    }

    /// `llama_token_to_piece(id, lstrip = 0, special)`: the raw bytes of one token. Control and
    /// unknown tokens are empty unless `special`; byte tokens give one (possibly partial UTF-8) byte.
    pub fn token_to_piece(&self, id: TokenId, special: bool) -> Vec<u8> {
        let v = &self.vocab;
        let Some(text) = v.texts.get(id as usize) else { return Vec::new() };
        let a = v.attr(id);
        if a & (attr::UNKNOWN | attr::CONTROL) != 0 && !special {
            return Vec::new();
        }
        if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
            return text.as_bytes().to_vec();
        }
        if a & attr::NORMAL != 0 {
            return match v.kind {
                Kind::Spm => text.replace(SPACE_ESCAPE, " ").into_bytes(),
                Kind::Bpe => decode_byte_level(text),
            };
        }
        if a & attr::BYTE != 0 {
            return vec![byte_of_token_text(text)];
        }
        Vec::new()
    }

    /// The concatenated pieces, as llama.cpp's `common_detokenize(ids, special)` builds them
    /// (`llama_detokenize` with remove_special = false): one leading space of the first piece is
    /// dropped when the vocabulary adds a space prefix, and BPE vocabularies with
    /// `clean_spaces` get HF's clean-up of spaces before punctuation. Decoded lossily as UTF-8.
    pub fn decode(&self, ids: &[TokenId], special: bool) -> String {
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let piece = self.token_to_piece(id, special);
            let skip = usize::from(i == 0 && self.vocab.add_space_prefix && piece.first() == Some(&b' '));
            bytes.extend_from_slice(&piece[skip..]);
        }
        if self.vocab.clean_spaces {
            bytes = clean_up_spaces(&bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn n_vocab(&self) -> usize {
        self.vocab.len()
    }

    pub fn bos(&self) -> Option<TokenId> {
        self.vocab.bos
    }

    pub fn eos(&self) -> Option<TokenId> {
        self.vocab.eos
    }

    /// End of generation: eos, eot, eom and the tokens llama.cpp recognises by text.
    pub fn is_eog(&self, id: TokenId) -> bool {
        self.vocab.eog.contains(&id)
    }

    pub fn add_bos(&self) -> bool {
        self.vocab.add_bos
    }

    pub fn token_text(&self, id: TokenId) -> Option<&str> {
        self.vocab.texts.get(id as usize).map(String::as_str)
    }

    /// End-of-turn token, if the metadata names one or llama.cpp would detect one by its text.
    pub fn eot(&self) -> Option<TokenId> {
        self.vocab.eot
    }

    pub fn unk(&self) -> Option<TokenId> {
        self.vocab.unk
    }

    /// Look a token up by its exact text.
    pub fn token_id(&self, text: &str) -> Option<TokenId> {
        self.vocab.text_to_token(text)
    }
}

/// `<0xNN>` → NN (llama.cpp `token_to_byte`, `strtol` semantics: invalid hex gives what parses).
fn byte_of_token_text(text: &str) -> u8 {
    let hex = text.get(3..5).unwrap_or("");
    let digits: String = hex.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    u8::from_str_radix(&digits, 16).unwrap_or(0)
}

/// Inverse of the GPT-2 byte encoding (llama.cpp `llama_decode_text`), including its
/// `[UNK_BYTE_0x..]` marker for characters outside the table.
fn decode_byte_level(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match bpe::char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut utf8 = [0u8; 4];
                for b in c.encode_utf8(&mut utf8).as_bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
    out
}

/// The three clean-up passes of `llama_detokenize` for `clean_spaces` vocabularies, done in place
/// exactly as llama.cpp does them (the second pass overwrites the space it skips with NUL).
fn clean_up_spaces(text: &[u8]) -> Vec<u8> {
    let mut t = text.to_vec();
    // " ?", " !", " .", " ,": drop the space.
    let n1 = t.len();
    let mut total = n1.min(1);
    for i in 1..n1 {
        let x = t[i];
        if t[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        t[total] = x;
        total += 1;
    }
    // " ' ": drop both spaces around a lone apostrophe.
    let n2 = total;
    total = n2.min(1);
    let mut i = 1;
    while i < n2 {
        let x = t[i];
        if x == b'\'' && i + 1 < n2 && t[i - 1] == b' ' && t[i + 1] == b' ' {
            total -= 1;
            i += 1;
            t[i] = 0;
        }
        t[total] = x;
        total += 1;
        i += 1;
    }
    // " 's", " 'm", " 're", " 've": drop the space.
    let n3 = total;
    total = n3.min(1);
    for i in 1..n3 {
        let x = t[i];
        if t[i - 1] == b' ' && x == b'\'' && i + 1 < n3 {
            let x1 = t[i + 1];
            let drop =
                matches!(x1, b's' | b'm') || (i + 2 < n3 && matches!((x1, t[i + 2]), (b'r', b'e') | (b'v', b'e')));
            if drop {
                total -= 1;
            }
        }
        t[total] = x;
        total += 1;
    }
    t.truncate(total);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_token_text() {
        assert_eq!(byte_of_token_text("<0x0A>"), 0x0A);
        assert_eq!(byte_of_token_text("<0xE2>"), 0xE2);
        assert_eq!(byte_of_token_text("<0x"), 0);
    }

    #[test]
    fn clean_up_matches_llama_cpp() {
        let c = |s: &str| String::from_utf8(clean_up_spaces(s.as_bytes())).unwrap();
        assert_eq!(c("Hello , world !"), "Hello, world!");
        assert_eq!(c("a ' b"), "a'b");
        assert_eq!(c("it 's I 'm we 're you 've I 'll don 't"), "it's I'm we're you've I 'll don 't");
    }

    #[test]
    fn byte_level_decode() {
        assert_eq!(decode_byte_level("ĠHello"), b" Hello");
        assert_eq!(decode_byte_level("Ã©"), "é".as_bytes());
    }
}

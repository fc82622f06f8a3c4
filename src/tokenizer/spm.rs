//! SentencePiece-style BPE over scored tokens (llama.cpp `llm_tokenizer_spm_session`): start
//! from UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is the
//! highest-scoring token, and fall back to `<0xNN>` byte tokens for pieces not in the vocabulary.

use super::merge::{char_symbols, Bigram, Score, Symbol};
use std::collections::{BinaryHeap, HashMap};

use super::vocab::Vocab;
use super::TokenId;

/// Length of a UTF-8 sequence from its first byte (llama.cpp `unicode_len_utf8`).
pub(crate) fn utf8_len(first: u8) -> usize {
    const LOOKUP: [usize; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    LOOKUP[(first >> 4) as usize]
}

/// Byte token for `b`: `<0xNN>`, else the byte itself as a token (llama.cpp `byte_to_token`).
pub(crate) fn byte_token(vocab: &Vocab, b: u8) -> Option<TokenId> {
    vocab.text_to_token(&format!("<0x{b:02X}>")).or_else(|| {
        let one = [b];
        std::str::from_utf8(&one).ok().and_then(|s| vocab.text_to_token(s))
    })
}

struct Session<'a> {
    vocab: &'a Vocab,
    text: &'a str,
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Bigram<Score>>,
    /// Merged text → the pair that formed it most recently (llama.cpp `rev_merge`).
    rev_merge: HashMap<&'a str, (usize, usize)>,
}

/// Tokenizes `text` (spaces already escaped to `▁`), appending to `out`.
pub(crate) fn tokenize(vocab: &Vocab, text: &str, out: &mut Vec<TokenId>) {
    let symbols = char_symbols(text);
    let mut s = Session { vocab, text, symbols, queue: BinaryHeap::new(), rev_merge: HashMap::new() };
    for i in 1..s.symbols.len() {
        s.try_add_bigram(Some(i - 1), Some(i));
    }
    while let Some(bigram) = s.queue.pop() {
        let (l, r) = (s.symbols[bigram.left], s.symbols[bigram.right]);
        // Skip pairs whose symbols changed since they were queued.
        if l.len == 0 || r.len == 0 || l.len + r.len != bigram.len {
            continue;
        }
        s.symbols[bigram.left].len += r.len;
        s.symbols[bigram.right].len = 0;
        s.symbols[bigram.left].next = r.next;
        if let Some(n) = r.next {
            s.symbols[n].prev = Some(bigram.left);
        }
        s.try_add_bigram(l.prev, Some(bigram.left));
        s.try_add_bigram(Some(bigram.left), r.next);
    }
    let mut i = if s.symbols.is_empty() { None } else { Some(0) };
    while let Some(idx) = i {
        s.resegment(idx, out, 0);
        i = s.symbols[idx].next;
    }
}

impl<'a> Session<'a> {
    fn piece(&self, start: usize, len: usize) -> Option<&'a str> {
        self.text.get(start..start + len)
    }

    fn try_add_bigram(&mut self, left: Option<usize>, right: Option<usize>) {
        let (Some(left), Some(right)) = (left, right) else { return };
        let (l, r) = (self.symbols[left], self.symbols[right]);
        let Some(piece) = self.piece(l.start, l.len + r.len) else { return };
        let Some(id) = self.vocab.text_to_token(piece) else { return };
        let Some(&score) = self.vocab.scores.get(id as usize) else { return };
        self.queue.push(Bigram { left, right, key: Score(score), len: piece.len() });
        self.rev_merge.insert(piece, (left, right));
    }

    fn resegment(&self, idx: usize, out: &mut Vec<TokenId>, depth: usize) {
        let sym = self.symbols[idx];
        let bytes = &self.text.as_bytes()[sym.start..sym.start + sym.len];
        let piece = self.piece(sym.start, sym.len);
        if let Some(id) = piece.and_then(|p| self.vocab.text_to_token(p)) {
            out.push(id);
            return;
        }
        // `rev_merge` can point at pairs elsewhere in the text (keyed by text, as in llama.cpp);
        // the depth bound only guards against cycles in malformed vocabularies.
        let pair = piece.and_then(|p| self.rev_merge.get(p)).filter(|_| depth < 4096);
        match pair {
            Some(&(l, r)) => {
                self.resegment(l, out, depth + 1);
                self.resegment(r, out, depth + 1);
            }
            None => {
                for &b in bytes {
                    // llama.cpp throws when a byte has no token; the byte is dropped here.
                    if let Some(id) = byte_token(self.vocab, b) {
                        out.push(id);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::gguf::{Array, Gguf, GgufWriter, Value};
    use crate::tokenizer::Tokenizer;

    /// A tiny SPM vocabulary: <unk> <s> </s>, the 256 byte tokens, then scored pieces.
    fn tiny(add_space_prefix: Option<bool>) -> Tokenizer {
        let mut tokens = vec!["<unk>".to_string(), "<s>".to_string(), "</s>".to_string()];
        let mut types = vec![2, 3, 3];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
        }
        let pieces = [("▁", -1.0), ("a", -2.0), ("b", -2.0), ("ab", -1.5), ("▁ab", -0.5), ("<ud>", 0.0), ("é", -3.0)];
        let mut scores = vec![0.0f32; tokens.len()];
        for (p, s) in pieces {
            tokens.push(p.to_string());
            scores.push(s);
            types.push(if p == "<ud>" { 4 } else { 1 });
        }
        let mut w = GgufWriter::new();
        w.meta("tokenizer.ggml.model", Value::String("llama".into()))
            .meta("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)))
            .meta("tokenizer.ggml.scores", Value::Array(Array::F32(scores)))
            .meta("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
        if let Some(v) = add_space_prefix {
            w.meta("tokenizer.ggml.add_space_prefix", Value::Bool(v));
        }
        let g = Gguf::from_bytes(w.to_bytes()).unwrap();
        Tokenizer::from_gguf(&g).unwrap()
    }

    const SPACE: u32 = 259;
    const A: u32 = 260;
    const AB: u32 = 262;
    const SPACE_AB: u32 = 263;
    const UD: u32 = 264;
    const E_ACUTE: u32 = 265;

    #[test]
    fn space_prefix_by_default_and_after_special_tokens() {
        let t = tiny(None);
        assert_eq!(t.encode("ab", false, false), [SPACE_AB]);
        assert_eq!(t.encode("ab", true, false), [1, SPACE_AB]);
        // The user-defined token is cut out; the text after it gets a space prefix again.
        assert_eq!(t.encode("ab<ud>ab", false, false), [SPACE_AB, UD, SPACE_AB]);
        assert_eq!(t.decode(&[SPACE_AB, UD, SPACE_AB], false), "ab<ud> ab");
        let t = tiny(Some(false));
        assert_eq!(t.encode("ab a", false, false), [AB, SPACE, A]);
    }

    #[test]
    fn byte_fallback_for_unknown_characters() {
        let t = tiny(Some(false));
        // '€' = E2 82 AC is not a piece: three byte tokens (<0xNN> is id 3 + NN).
        let ids = t.encode("€é", false, false);
        assert_eq!(ids, [3 + 0xE2, 3 + 0x82, 3 + 0xAC, E_ACUTE]);
        assert_eq!(t.token_to_piece(3 + 0xE2, false), [0xE2]);
        assert_eq!(t.decode(&ids, false), "€é");
        // A lone partial sequence decodes lossily.
        assert_eq!(t.decode(&ids[..1], false), "\u{FFFD}");
        assert_eq!(t.token_to_piece(1, false), b"");
        assert_eq!(t.token_to_piece(1, true), b"<s>");
        assert_eq!(t.token_to_piece(u32::MAX, true), b"");
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let t = tiny(None);
        for s in ["", " ", "\0", "<ud><ud>", "▁▁", "\u{10FFFF}", "<s></s><unk>"] {
            let ids = t.encode(s, true, true);
            let _ = t.decode(&ids, true);
        }
        assert_eq!(t.encode("", true, false), [1]);
        assert_eq!(t.encode("<s>", false, true), [1]);
    }
}

//! Byte-level BPE (llama.cpp `llm_tokenizer_bpe_session`): pre-tokenized words are mapped through
//! the GPT-2 byte → unicode table, then the adjacent pair with the lowest merge rank is merged
//! until no ranked pair remains.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;

use super::merge::{char_symbols, Bigram, Symbol};
use super::vocab::Vocab;
use super::TokenId;

/// GPT-2's byte → code point table (`bytes_to_unicode`): printable Latin-1 bytes map to
/// themselves, the rest to U+0100.. in byte order.
fn byte_to_char_table() -> &'static [char; 256] {
    static TABLE: OnceLock<[char; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = ['\0'; 256];
        let mut n = 0u32;
        for b in 0..=255u8 {
            let printable = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
            t[b as usize] = if printable {
                b as char
            } else {
                n += 1;
                char::from_u32(255 + n).unwrap_or('\u{FFFD}')
            };
        }
        t
    })
}

pub(crate) fn byte_to_char(b: u8) -> char {
    byte_to_char_table()[b as usize]
}

/// Inverse of [`byte_to_char`].
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    match cp {
        0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => Some(cp as u8),
        0x100..=0x143 => byte_to_char_table().iter().position(|&x| x == c).map(|p| p as u8),
        _ => None,
    }
}

/// The byte-level encoding of a word: each UTF-8 byte becomes one table character.
pub(crate) fn byte_encode(word: &str) -> String {
    word.bytes().map(byte_to_char).collect()
}

fn rank(vocab: &Vocab, left: &str, right: &str) -> Option<u32> {
    // A lookup with borrowed halves would need a custom key type; pairs are short.
    vocab.bpe_ranks.get(&(left.to_string(), right.to_string())).copied()
}

/// Merges one (already byte-encoded) word and appends its tokens to `out`.
pub(crate) fn tokenize_word(vocab: &Vocab, word: &str, out: &mut Vec<TokenId>) {
    if word.is_empty() {
        return;
    }
    if vocab.ignore_merges {
        if let Some(id) = vocab.text_to_token(word) {
            out.push(id);
            return;
        }
    }
    let mut symbols = char_symbols(word);
    let text = |s: &Symbol| word.get(s.start..s.start + s.len).unwrap_or("");
    let mut queue = BinaryHeap::new();
    let add = |queue: &mut BinaryHeap<Bigram<Reverse<u32>>>, symbols: &[Symbol], l: Option<usize>, r: Option<usize>| {
        let (Some(l), Some(r)) = (l, r) else { return };
        let (ls, rs) = (&symbols[l], &symbols[r]);
        if let Some(rank) = rank(vocab, text(ls), text(rs)) {
            queue.push(Bigram { left: l, right: r, key: Reverse(rank), len: ls.len + rs.len });
        }
    };
    for i in 1..symbols.len() {
        add(&mut queue, &symbols, Some(i - 1), Some(i));
    }
    while let Some(b) = queue.pop() {
        let (l, r) = (symbols[b.left], symbols[b.right]);
        // Outdated pair: llama.cpp compares the texts; the right symbol must still follow the left
        // one directly and together they must span the queued text.
        if l.len == 0 || r.len == 0 || l.next != Some(b.right) || l.len + r.len != b.len {
            continue;
        }
        symbols[b.left].len += r.len;
        symbols[b.right].len = 0;
        symbols[b.left].next = r.next;
        if let Some(n) = r.next {
            symbols[n].prev = Some(b.left);
        }
        add(&mut queue, &symbols, l.prev, Some(b.left));
        add(&mut queue, &symbols, Some(b.left), r.next);
    }
    for sym in symbols.iter().filter(|s| s.len > 0) {
        let piece = text(sym);
        match vocab.text_to_token(piece) {
            Some(id) => out.push(id),
            None => {
                // llama.cpp looks up each byte of the piece as a one-byte string.
                for &b in piece.as_bytes() {
                    let one = [b];
                    if let Some(id) = std::str::from_utf8(&one).ok().and_then(|s| vocab.text_to_token(s)) {
                        out.push(id);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_gpt2() {
        assert_eq!(byte_to_char(b'A'), 'A');
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(0xAD), '\u{143}');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(byte_encode("é"), "Ã©");
    }
}

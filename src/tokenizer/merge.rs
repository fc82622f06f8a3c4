//! The pieces SentencePiece and BPE merging share: symbols in a linked list over the text, and
//! candidate merges in a priority queue ordered by a per-algorithm key.

use std::cmp::Ordering;

/// A run of text bytes `[start, start + len)`; `len == 0` once merged into its left neighbour.
#[derive(Clone, Copy)]
pub(super) struct Symbol {
    pub prev: Option<usize>,
    pub next: Option<usize>,
    pub start: usize,
    pub len: usize,
}

/// One symbol per UTF-8 character of `text`, linked in order.
pub(super) fn char_symbols(text: &str) -> Vec<Symbol> {
    let bytes = text.as_bytes();
    let mut symbols = Vec::with_capacity(bytes.len());
    let mut offs = 0;
    while offs < bytes.len() {
        let len = super::spm::utf8_len(bytes[offs]).min(bytes.len() - offs);
        let index = symbols.len();
        symbols.push(Symbol {
            prev: index.checked_sub(1),
            next: if offs + len == bytes.len() { None } else { Some(index + 1) },
            start: offs,
            len,
        });
        offs += len;
    }
    symbols
}

/// A candidate merge of two adjacent symbols whose joined text is `len` bytes long. Higher
/// `key` merges first; on ties, the leftmost pair (both tokenizers of llama.cpp agree on that).
pub(super) struct Bigram<K> {
    pub left: usize,
    pub right: usize,
    pub key: K,
    pub len: usize,
}

impl<K: Ord> PartialEq for Bigram<K> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<K: Ord> Eq for Bigram<K> {}

impl<K: Ord> PartialOrd for Bigram<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K: Ord> Ord for Bigram<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key).then_with(|| other.left.cmp(&self.left))
    }
}

/// An f32 score ordered totally, for SentencePiece's "highest score first".
#[derive(Clone, Copy, PartialEq)]
pub(super) struct Score(pub f32);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

//! Special-token partitioning (llama.cpp `tokenizer_st_partition`): control, user-defined and
//! unknown tokens are cut out of the raw text before the model tokenizer runs on the rest.

use std::ops::Range;

use super::vocab::{attr, Vocab};
use super::TokenId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fragment {
    /// A byte range of the input text, still to be tokenized.
    Text(Range<usize>),
    Token(TokenId),
}

/// C `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// Splits `text` around special tokens, longest token first. Without `parse_special`, control and
/// unknown tokens stay text but user-defined tokens are still cut out (as in llama.cpp and HF).
pub(crate) fn partition(vocab: &Vocab, text: &str, parse_special: bool) -> Vec<Fragment> {
    let mut frags = Vec::new();
    if text.is_empty() {
        return frags;
    }
    frags.push(Fragment::Text(0..text.len()));
    let bytes = text.as_bytes();
    for &id in &vocab.special_tokens {
        let a = vocab.attr(id);
        if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
            continue;
        }
        let special = vocab.texts[id as usize].as_str();
        // Cheap rejection: most special tokens do not occur at all.
        if !text.contains(special) {
            continue;
        }
        let mut out = Vec::with_capacity(frags.len() + 2);
        for frag in frags {
            let Fragment::Text(range) = frag else {
                out.push(frag);
                continue;
            };
            let (mut start, end) = (range.start, range.end);
            loop {
                let Some(pos) = text[start..end].find(special) else {
                    if start < end {
                        out.push(Fragment::Text(start..end));
                    }
                    break;
                };
                let found = start + pos;
                let mut left_end = found;
                if a & attr::LSTRIP != 0 {
                    while left_end > start && is_c_space(bytes[left_end - 1]) {
                        left_end -= 1;
                    }
                }
                if left_end > start {
                    out.push(Fragment::Text(start..left_end));
                }
                out.push(Fragment::Token(id));
                start = found + special.len();
                if a & attr::RSTRIP != 0 {
                    while start < end && is_c_space(bytes[start]) {
                        start += 1;
                    }
                }
            }
        }
        frags = out;
    }
    frags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::vocab::Kind;
    use std::collections::{BTreeSet, HashMap};

    fn vocab(tokens: &[(&str, u32)]) -> Vocab {
        let texts: Vec<String> = tokens.iter().map(|t| t.0.to_string()).collect();
        let attrs: Vec<u32> = tokens.iter().map(|t| t.1).collect();
        let token_to_id: HashMap<String, TokenId> =
            texts.iter().enumerate().map(|(i, t)| (t.clone(), i as TokenId)).collect();
        let mut special_tokens: Vec<TokenId> = (0..texts.len() as TokenId)
            .filter(|&i| attrs[i as usize] & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0)
            .collect();
        special_tokens.sort_by(|&a, &b| texts[b as usize].len().cmp(&texts[a as usize].len()));
        Vocab {
            kind: Kind::Spm,
            pre: String::new(),
            scores: vec![0.0; texts.len()],
            texts,
            attrs,
            token_to_id,
            bpe_ranks: HashMap::new(),
            bpe_pre: None,
            bos: None,
            eos: None,
            eot: None,
            unk: None,
            add_bos: false,
            add_eos: false,
            add_space_prefix: false,
            clean_spaces: false,
            ignore_merges: false,
            eog: BTreeSet::new(),
            special_tokens,
        }
    }

    fn show(text: &str, frags: &[Fragment]) -> Vec<String> {
        frags
            .iter()
            .map(|f| match f {
                Fragment::Text(r) => format!("{:?}", &text[r.clone()]),
                Fragment::Token(id) => format!("#{id}"),
            })
            .collect()
    }

    #[test]
    fn control_tokens_only_with_parse_special() {
        let v = vocab(&[("a", attr::NORMAL), ("<ctl>", attr::CONTROL), ("<ud>", attr::USER_DEFINED)]);
        let text = "x<ctl>y<ud>z<ctl>";
        assert_eq!(show(text, &partition(&v, text, true)), ["\"x\"", "#1", "\"y\"", "#2", "\"z\"", "#1"]);
        assert_eq!(show(text, &partition(&v, text, false)), ["\"x<ctl>y\"", "#2", "\"z<ctl>\""]);
    }

    #[test]
    fn longest_token_wins_and_strip_flags() {
        let v = vocab(&[
            ("<a>", attr::CONTROL),
            ("<a><b>", attr::CONTROL),
            ("<r>", attr::CONTROL | attr::RSTRIP),
            ("<l>", attr::CONTROL | attr::LSTRIP),
        ]);
        let text = "<a><b><a> <r> \n q \t<l>";
        assert_eq!(show(text, &partition(&v, text, true)), ["#1", "#0", "\" \"", "#2", "\"q\"", "#3"]);
        assert!(partition(&v, "", true).is_empty());
    }
}

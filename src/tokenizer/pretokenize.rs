//! BPE pre-tokenization: the per-`tokenizer.ggml.pre` regex lists of llama.cpp (`llm_tokenizer_bpe`)
//! and its way of applying them (`unicode_regex_split` in `unicode.cpp`).
//!
//! llama.cpp applies the expressions one after another; each one splits every chunk left by the
//! previous one into its matches and the unmatched gaps between them. Expressions that use
//! `\p{..}` run on a "collapsed" text in which every non-ASCII code point is replaced by one
//! marker per Unicode category (Unicode general categories, grouped as llama.cpp groups them), and `\p{X}` is rewritten to
//! that marker plus the ASCII members of X. Other expressions run on the real code points, with
//! non-ASCII whitespace replaced by `\x0B`. Doing the same here (with `fancy-regex` as the engine)
//! reproduces llama.cpp's quirks, e.g. `\p{Lu}` meaning any letter.
//! The custom splitters llama.cpp uses for the gpt2/llama3/qwen2 expressions implement the
//! ordinary regex semantics, so the expressions themselves are used here.

use unicode_general_category::{get_general_category, GeneralCategory as G};

use super::TokenizerError;

/// Category flags of `unicode_cpt_flags` (low byte).
pub(crate) mod flag {
    pub const NUMBER: u8 = 0x02;
    pub const LETTER: u8 = 0x04;
    pub const ACCENT_MARK: u8 = 0x10;
    pub const PUNCTUATION: u8 = 0x20;
    pub const SYMBOL: u8 = 0x40;
}

/// llama.cpp's category flag of a code point: its Unicode general category, grouped.
pub(crate) fn cpt_category(c: char) -> u8 {
    match get_general_category(c) {
        G::UppercaseLetter | G::LowercaseLetter | G::TitlecaseLetter | G::ModifierLetter | G::OtherLetter => {
            flag::LETTER
        }
        G::DecimalNumber | G::LetterNumber | G::OtherNumber => flag::NUMBER,
        G::NonspacingMark | G::SpacingMark | G::EnclosingMark => flag::ACCENT_MARK,
        G::ConnectorPunctuation
        | G::DashPunctuation
        | G::OpenPunctuation
        | G::ClosePunctuation
        | G::InitialPunctuation
        | G::FinalPunctuation
        | G::OtherPunctuation => flag::PUNCTUATION,
        G::MathSymbol | G::CurrencySymbol | G::ModifierSymbol | G::OtherSymbol => flag::SYMBOL,
        _ => 0,
    }
}

/// Unicode's White_Space property, which is llama.cpp's whitespace set.
pub(crate) fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

/// Marker characters (private use area) standing for a non-ASCII code point of one category.
const MARK_OTHER: char = '\u{E0D0}';
const MARK_NUMBER: char = '\u{E0D1}';
const MARK_LETTER: char = '\u{E0D2}';
const MARK_PUNCT: char = '\u{E0D3}';
const MARK_ACCENT: char = '\u{E0D4}';
const MARK_SYMBOL: char = '\u{E0D5}';

fn collapse_char(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    if is_whitespace(c) {
        return '\x0B';
    }
    match cpt_category(c) {
        flag::NUMBER => MARK_NUMBER,
        flag::LETTER => MARK_LETTER,
        flag::PUNCTUATION => MARK_PUNCT,
        flag::ACCENT_MARK => MARK_ACCENT,
        flag::SYMBOL => MARK_SYMBOL,
        _ => MARK_OTHER,
    }
}

fn whitespace_char(c: char) -> char {
    if !c.is_ascii() && is_whitespace(c) {
        '\x0B'
    } else {
        c
    }
}

/// `\p{..}` names llama.cpp understands, with the marker and the ASCII members of the category.
fn category_class(name: &str) -> Option<(char, &'static str)> {
    Some(match name {
        "N" => (MARK_NUMBER, "0-9"),
        "L" | "Lu" | "Ll" | "Lt" | "Lm" | "Lo" => (MARK_LETTER, "A-Za-z"),
        "P" => (MARK_PUNCT, r"!-#%-*,-/:-;?-@\[-\]_\{\}"),
        "M" => (MARK_ACCENT, ""),
        "S" => (MARK_SYMBOL, r"\$\+<->\^`\|~"),
        _ => return None,
    })
}

fn uses_categories(expr: &str) -> bool {
    ["N", "L", "P", "M", "S", "Lu", "Ll", "Lt", "Lm", "Lo"].iter().any(|n| expr.contains(&format!(r"\p{{{n}}}")))
}

/// Rewrites `\p{X}` into a class over the collapsed text, tracking `[..]` like llama.cpp does.
fn collapse_pattern(expr: &str) -> String {
    let b = expr.as_bytes();
    let mut out = String::with_capacity(expr.len() * 2);
    let mut inside = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'[' && (i == 0 || b[i - 1] != b'\\') {
            out.push('[');
            inside = true;
            i += 1;
            continue;
        }
        if inside && b[i] == b']' && b[i - 1] != b'\\' {
            out.push(']');
            inside = false;
            i += 1;
            continue;
        }
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'p' && b[i + 2] == b'{' {
            if let Some(close) = expr[i + 3..].find('}').map(|p| p + i + 3) {
                if close <= i + 10 {
                    if let Some((mark, ascii)) = category_class(&expr[i + 3..close]) {
                        if !inside {
                            out.push('[');
                        }
                        out.push(mark);
                        out.push_str(ascii);
                        if !inside {
                            out.push(']');
                        }
                        i = close + 1;
                        continue;
                    }
                }
            }
        }
        // Patterns with categories are ASCII-only (checked by the caller), so bytes are chars.
        out.push(b[i] as char);
        i += 1;
    }
    out
}

struct Expr {
    regex: fancy_regex::Regex,
    collapsed: bool,
}

/// A compiled list of split expressions for one pre-tokenizer type.
pub(crate) struct PreTokenizer {
    exprs: Vec<Expr>,
}

impl PreTokenizer {
    pub(crate) fn new(pre: &str, patterns: &[&str]) -> Result<Self, TokenizerError> {
        let mut exprs = Vec::with_capacity(patterns.len());
        for &p in patterns {
            let collapsed = uses_categories(p);
            if collapsed && !p.is_ascii() {
                return Err(TokenizerError::Regex {
                    pre: pre.to_string(),
                    problem: format!("{p:?} mixes unicode categories and non-ASCII characters"),
                });
            }
            let source = if collapsed { collapse_pattern(p) } else { p.to_string() };
            let regex = fancy_regex::Regex::new(&source)
                .map_err(|e| TokenizerError::Regex { pre: pre.to_string(), problem: format!("{source:?}: {e}") })?;
            exprs.push(Expr { regex, collapsed });
        }
        Ok(PreTokenizer { exprs })
    }

    /// Splits `text` into words (`unicode_regex_split` without the byte encoding).
    pub(crate) fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let chars: Vec<char> = text.chars().collect();
        let need_collapsed = self.exprs.iter().any(|e| e.collapsed);
        let need_plain = self.exprs.iter().any(|e| !e.collapsed);
        let collapsed: Vec<char> =
            if need_collapsed { chars.iter().map(|&c| collapse_char(c)).collect() } else { Vec::new() };
        let plain: Vec<char> =
            if need_plain { chars.iter().map(|&c| whitespace_char(c)).collect() } else { Vec::new() };

        // Chunk lengths in code points.
        let mut offsets = vec![chars.len()];
        let mut buf = String::new();
        for expr in &self.exprs {
            let view = if expr.collapsed { &collapsed } else { &plain };
            let mut next = Vec::with_capacity(offsets.len() * 2);
            let mut start = 0;
            for &len in &offsets {
                buf.clear();
                buf.extend(&view[start..start + len]);
                split_chunk(&expr.regex, &buf, len, &mut next);
                start += len;
            }
            offsets = next;
        }

        // Back to byte ranges of the original text.
        let mut words = Vec::with_capacity(offsets.len());
        let mut char_pos = 0;
        let mut byte_pos = 0;
        let mut iter = text.char_indices().map(|(_, c)| c.len_utf8());
        for len in offsets {
            let begin = byte_pos;
            for _ in 0..len {
                byte_pos += iter.next().unwrap_or(0);
            }
            char_pos += len;
            words.push(&text[begin..byte_pos]);
        }
        debug_assert_eq!(char_pos, chars.len());
        words
    }
}

/// Appends the lengths (in chars) of the matches of `re` in `chunk` and of the gaps between them.
fn split_chunk(re: &fancy_regex::Regex, chunk: &str, n_chars: usize, out: &mut Vec<usize>) {
    let mut prev_byte = 0;
    let mut prev_char = 0;
    for m in re.find_iter(chunk) {
        // A regex runtime error (backtrack limit) leaves the rest of the chunk unsplit.
        let Ok(m) = m else { break };
        let gap = chunk[prev_byte..m.start()].chars().count();
        if gap > 0 {
            out.push(gap);
        }
        let len = m.as_str().chars().count();
        if len > 0 {
            out.push(len);
        }
        prev_byte = m.end();
        prev_char += gap + len;
    }
    if prev_char < n_chars {
        out.push(n_chars - prev_char);
    }
}

/// Expression lists, copied from llama.cpp `llm_tokenizer_bpe` (C escapes resolved).
mod re {
    pub const LLAMA3: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
    pub const QWEN2: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
    pub const GPT2: &str = r#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#;
    pub const JAIS2: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}"#;
    pub const DEEPSEEK_LLM_LETTERS: &str = r#"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+"#;
    pub const DEEPSEEK_LLM_PUNCT: &str = r#"\s?[!-/:-~！-／：-～‘-‟　-。]+"#;
    pub const CJK: &str = r#"[一-龥ࠀ-一가-퟿]+"#;
    pub const CJK_KANA: &str = r#"[一-龥぀-ゟ゠-ヿ]+"#;
    pub const DEEPSEEK3_MAIN: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##;
    pub const SPARK2_5_MAIN: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+"##;
    pub const YOUTU_CJK: &str = r#"[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+"#;
    pub const YOUTU_MAIN: &str = r#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
    pub const QWEN35: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
    pub const PORO: &str = r#" ?[^(\s|.,!?…。，、।۔،)]+"#;
    pub const TEKKEN: &str = r#"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
    pub const GPT4O: &str = r#"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
    pub const BAILINGMOE: &str = r#"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#;
    pub const SEED_CODER: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"#;
    pub const UFAKZEKA: &str = r#"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
    pub const EXAONE_MOE: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"#;
    pub const MINICPM5: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
    pub const NEWLINES: &str = r#"[^\n]+|[\n]+"#;
}

/// What a `tokenizer.ggml.pre` name selects (llama.cpp `llama_vocab::impl::load` and
/// `llm_tokenizer_bpe`): the expressions and the flags that differ from the BPE defaults.
pub(crate) struct PreSpec {
    pub patterns: &'static [&'static str],
    pub clean_spaces: bool,
    pub ignore_merges: bool,
    pub add_bos: bool,
    pub no_bos: bool,
}

/// Pre-tokenizer names llama.cpp knows but whose splitting needs custom code not ported here.
const UNSUPPORTED: &[&str] = &[
    "tiny_aya",
    "cohere2moe",
    "kimi-k2",
    "superbpe",
    "afmoe",
    "gemma4",
    "granite-embed-multi-311m",
    "sarvam-moe",
    "whitespace",
];

pub(crate) fn pre_spec(pre: &str) -> Result<PreSpec, TokenizerError> {
    use re::*;
    let spec = |patterns: &'static [&'static str]| PreSpec {
        patterns,
        clean_spaces: true,
        ignore_merges: false,
        add_bos: false,
        no_bos: false,
    };
    let no_clean = |patterns| PreSpec { clean_spaces: false, ..spec(patterns) };
    const DEFAULT: &[&str] = &[r#"[\p{P}\$\+<=>\^~\|]+"#, re::GPT2, r#"\p{N}+"#, "[0-9][0-9][0-9]"];
    const STARCODER: &[&str] = &[r#"\p{N}"#, re::GPT2];
    const DEEPSEEK3: &[&str] = &[r#"\p{N}{1,3}"#, re::CJK_KANA, re::DEEPSEEK3_MAIN];
    Ok(match pre {
        "" | "default" => spec(DEFAULT),
        "minicpm5" => PreSpec { ignore_merges: true, ..spec(&[r#"\p{N}{1,3}"#, MINICPM5]) },
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2"
        | "jina-v5-nano" => PreSpec { ignore_merges: true, add_bos: true, ..spec(&[LLAMA3]) },
        "deepseek-llm" => no_clean(&["[\r\n]", DEEPSEEK_LLM_LETTERS, DEEPSEEK_LLM_PUNCT, r#"\s+$"#, CJK, r#"\p{N}+"#]),
        "deepseek-coder" => no_clean(&["[\r\n]", r#"\s?\p{L}+"#, r#"\s?\p{P}+"#, CJK, r#"\p{N}"#]),
        "deepseek-v3" | "hunyuan-dense" | "hy_v4" | "joyai-llm" => no_clean(DEEPSEEK3),
        "spark2_5" => no_clean(&[r#"\p{N}{1,3}"#, CJK_KANA, SPARK2_5_MAIN, r#"\p{N}"#]),
        "youtu" => PreSpec { ignore_merges: true, ..no_clean(&[YOUTU_CJK, YOUTU_MAIN]) },
        "falcon" => spec(&[r#"[\p{P}\$\+<=>\^~\|`]+"#, GPT2, "[0-9][0-9][0-9]"]),
        "mpt" | "olmo" | "jais" | "exaone4" | "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
        | "jina-v2-de" | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe" => {
            spec(&[GPT2])
        }
        "trillion" | "granite-docling" => no_clean(&[GPT2]),
        "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => spec(STARCODER),
        "command-r" | "smollm" => no_clean(STARCODER),
        "jais-2" => spec(&[JAIS2]),
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "hunyuan" | "solar-open" | "grok-2" => no_clean(&[QWEN2]),
        "stablelm2" | "megrez" => spec(&[QWEN2]),
        "qwen35" => no_clean(&[QWEN35]),
        "dbrx" | "smaug-bpe" => spec(&[LLAMA3]),
        "poro-chat" => no_clean(&[PORO]),
        "bloom" | "gpt3-finnish" => spec(&[PORO]),
        "chatglm-bpe" => PreSpec { no_bos: true, ..spec(&[LLAMA3]) },
        "glm4" | "glm5" => PreSpec { no_bos: true, ignore_merges: true, ..spec(&[LLAMA3]) },
        "viking" => no_clean(&[PORO, r#"\p{N}"#]),
        "tekken" => PreSpec { ignore_merges: true, add_bos: true, ..no_clean(&[TEKKEN]) },
        "chameleon" => PreSpec {
            add_bos: true,
            ..no_clean(&[
                "<sentinel:[0-9]+>",
                "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                "([\t\n]|    |  )",
                r#"\p{N}"#,
                r#"[\p{P}!-/:-@\[-`{-~]"#,
                GPT2,
            ])
        },
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => no_clean(&[GPT4O]),
        "bailingmoe" | "bailingmoe2" | "llada-moe" => no_clean(&[BAILINGMOE]),
        "seed-coder" => no_clean(&[SEED_CODER]),
        "ufakzeka" => no_clean(&[UFAKZEKA]),
        "laguna" => no_clean(&[NEWLINES, QWEN2]),
        "exaone-moe" => spec(&[EXAONE_MOE]),
        other if UNSUPPORTED.contains(&other) => {
            return Err(TokenizerError::UnsupportedPreTokenizer(other.to_string()))
        }
        other => return Err(TokenizerError::UnknownPreTokenizer(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pre: &str, text: &str) -> Vec<String> {
        let spec = pre_spec(pre).unwrap();
        let p = PreTokenizer::new(pre, spec.patterns).unwrap();
        p.split(text).into_iter().map(String::from).collect()
    }

    #[test]
    fn categories_match_llama_cpp_table() {
        assert_eq!(cpt_category('a'), flag::LETTER);
        assert_eq!(cpt_category('é'), flag::LETTER);
        assert_eq!(cpt_category('7'), flag::NUMBER);
        assert_eq!(cpt_category('½'), flag::NUMBER);
        assert_eq!(cpt_category('!'), flag::PUNCTUATION);
        assert_eq!(cpt_category('$'), flag::SYMBOL);
        assert_eq!(cpt_category('\u{301}'), flag::ACCENT_MARK);
        assert!(is_whitespace('\u{3000}') && is_whitespace('\n') && !is_whitespace('x'));
    }

    #[test]
    fn collapse_rewrites_categories() {
        assert_eq!(collapse_pattern(r"\p{N}+"), "[\u{E0D1}0-9]+");
        assert_eq!(collapse_pattern(r"[^\s\p{L}]"), "[^\\s\u{E0D2}A-Za-z]");
    }

    #[test]
    fn llama3_splits_like_the_regex() {
        assert_eq!(split("llama-bpe", "Hello world"), ["Hello", " world"]);
        assert_eq!(split("llama-bpe", "  Hello\n\n x 12345"), [" ", " Hello", "\n\n", " x", " ", "123", "45"]);
        assert_eq!(split("llama-bpe", "I'M 'Ve"), ["I", "'M", " '", "Ve"]);
    }

    #[test]
    fn multi_expression_split_keeps_gaps() {
        // default: punctuation runs first, then gpt2 inside the remaining chunks, then digits.
        assert_eq!(split("default", "a,b 1234"), ["a", ",", "b", " ", "123", "4"]);
    }

    #[test]
    fn deepseek_letter_ranges_are_not_nfc_normalized() {
        // Editors that NFC-normalize would turn U+1F7D/U+1FD3/U+1FDB/U+2126/U+212A into other code
        // points and make the ranges invalid (or, for K, huge).
        for c in ['\u{1F7D}', '\u{1FD3}', '\u{1FDB}', '\u{2126}', '\u{212A}'] {
            assert!(re::DEEPSEEK_LLM_LETTERS.contains(c), "{c:?}");
        }
        assert!(PreTokenizer::new("deepseek-llm", pre_spec("deepseek-llm").unwrap().patterns).is_ok());
    }

    #[test]
    fn every_supported_pre_tokenizer_compiles() {
        for name in [
            "default",
            "llama-bpe",
            "deepseek-llm",
            "deepseek-coder",
            "deepseek-v3",
            "spark2_5",
            "youtu",
            "falcon",
            "gpt-2",
            "starcoder",
            "command-r",
            "jais-2",
            "qwen2",
            "qwen35",
            "dbrx",
            "poro-chat",
            "chatglm-bpe",
            "viking",
            "tekken",
            "chameleon",
            "gpt-4o",
            "bailingmoe",
            "seed-coder",
            "ufakzeka",
            "laguna",
            "exaone-moe",
            "minicpm5",
            "smollm",
            "refact",
            "olmo",
            "mpt",
            "phi-2",
            "stablelm2",
        ] {
            let spec = pre_spec(name).unwrap();
            if let Err(e) = PreTokenizer::new(name, spec.patterns) {
                panic!("{name}: {e}");
            }
        }
    }

    #[test]
    fn unknown_and_unsupported_names() {
        assert!(matches!(pre_spec("no-such-pre"), Err(TokenizerError::UnknownPreTokenizer(n)) if n == "no-such-pre"));
        assert!(matches!(pre_spec("kimi-k2"), Err(TokenizerError::UnsupportedPreTokenizer(_))));
    }
}

//! How many elements a pointer parameter's buffer must hold for one launch: an expression of
//! the launch's sizes, declared with the parameter (`input("w", Elem::QuantBlock, "n_rows *
//! n_cols / BLOCK")`). The generated launchers check every buffer view against it before a
//! launch, and the parity harness checks its cases' buffers against it, so the declaration is
//! the one statement of how far a kernel reads and writes.
//!
//! The grammar: `+`, `-`, `*`, `/` (integer division, truncating) with the usual precedence,
//! parentheses, integers, and names. A name is an integer scalar parameter, a launch-only
//! dimension, an integer axis (`head_dim`) or `BLOCK`, the weights per block of the variant's
//! quant format.

use std::fmt;

/// The name that stands for the quant format's weights per block.
pub const BLOCK: &str = "BLOCK";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    Num(u64),
    Name(String),
    Bin(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

impl Op {
    pub fn symbol(self) -> char {
        match self {
            Op::Add => '+',
            Op::Sub => '-',
            Op::Mul => '*',
            Op::Div => '/',
        }
    }
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, String> {
        let tokens = tokenize(text)?;
        let mut p = Parser { tokens: &tokens, at: 0 };
        let e = p.sum()?;
        match p.tokens.get(p.at) {
            None => Ok(e),
            Some(t) => Err(format!("`{text}`: unexpected {t} after a complete expression")),
        }
    }

    /// The names it uses, in order of appearance.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Expr::Num(_) => Vec::new(),
            Expr::Name(n) => vec![n.as_str()],
            Expr::Bin(a, _, b) => a.names().into_iter().chain(b.names()).collect(),
        }
    }

    /// The value, with `lookup` giving each name's; in i128, where no product of launch sizes
    /// overflows.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<i128>) -> Result<i128, String> {
        Ok(match self {
            Expr::Num(n) => i128::from(*n),
            Expr::Name(n) => lookup(n).ok_or_else(|| format!("`{n}` is not given"))?,
            Expr::Bin(a, op, b) => {
                let (a, b) = (a.eval(lookup)?, b.eval(lookup)?);
                match op {
                    Op::Add => a + b,
                    Op::Sub => a - b,
                    Op::Mul => a * b,
                    Op::Div if b == 0 => return Err("division by zero".into()),
                    Op::Div => a / b,
                }
            }
        })
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(n) => write!(f, "{n}"),
            Expr::Name(n) => f.write_str(n),
            Expr::Bin(a, op, b) => write!(f, "({a} {} {b})", op.symbol()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(u64),
    Name(String),
    Op(Op),
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Num(n) => write!(f, "`{n}`"),
            Token::Name(n) => write!(f, "`{n}`"),
            Token::Op(op) => write!(f, "`{}`", op.symbol()),
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let word = |chars: &mut std::iter::Peekable<std::str::CharIndices>, keep: fn(char) -> bool| {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek().filter(|(_, d)| keep(*d)) {
                end = j + d.len_utf8();
                chars.next();
            }
            &text[i..end]
        };
        out.push(match c {
            ' ' => continue,
            '+' => Token::Op(Op::Add),
            '-' => Token::Op(Op::Sub),
            '*' => Token::Op(Op::Mul),
            '/' => Token::Op(Op::Div),
            '(' => Token::Open,
            ')' => Token::Close,
            '0'..='9' => {
                let digits = word(&mut chars, |d| d.is_ascii_digit());
                Token::Num(digits.parse().map_err(|_| format!("`{text}`: {digits} is too large"))?)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                Token::Name(word(&mut chars, |d| d.is_ascii_alphanumeric() || d == '_').to_string())
            }
            c => return Err(format!("`{text}`: unexpected `{c}`")),
        });
    }
    Ok(out)
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<&Token> {
        let t = self.tokens.get(self.at);
        self.at += 1;
        t
    }

    /// Left-associative operators of one precedence level over `operand`.
    fn chain(&mut self, ops: [Op; 2], operand: fn(&mut Self) -> Result<Expr, String>) -> Result<Expr, String> {
        let mut e = operand(self)?;
        while let Some(&Token::Op(op)) =
            self.tokens.get(self.at).filter(|t| matches!(t, Token::Op(o) if ops.contains(o)))
        {
            self.at += 1;
            e = Expr::Bin(Box::new(e), op, Box::new(operand(self)?));
        }
        Ok(e)
    }

    fn sum(&mut self) -> Result<Expr, String> {
        self.chain([Op::Add, Op::Sub], Self::product)
    }

    fn product(&mut self) -> Result<Expr, String> {
        self.chain([Op::Mul, Op::Div], Self::atom)
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.next().cloned() {
            Some(Token::Num(n)) => Ok(Expr::Num(n)),
            Some(Token::Name(n)) => Ok(Expr::Name(n)),
            Some(Token::Open) => {
                let e = self.sum()?;
                match self.next() {
                    Some(Token::Close) => Ok(e),
                    _ => Err("a `(` is not closed".into()),
                }
            }
            Some(t) => Err(format!("expected a number, a name or `(`, found {t}")),
            None => Err("the expression ends early".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, names: &[(&str, i128)]) -> Result<i128, String> {
        Expr::parse(text)?.eval(&|n| names.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
    }

    #[test]
    fn precedence_and_parentheses() {
        assert_eq!(eval("n_rows * n_cols / BLOCK", &[("n_rows", 7), ("n_cols", 512), ("BLOCK", 256)]), Ok(14));
        assert_eq!(eval("(pos0 + n) * kv_dim", &[("pos0", 3), ("n", 2), ("kv_dim", 8)]), Ok(40));
        assert_eq!(eval("a + b * c - 4 / 2", &[("a", 1), ("b", 2), ("c", 3)]), Ok(5));
        assert_eq!(eval("(n + 4095) / 4096 * k", &[("n", 4097), ("k", 40)]), Ok(80));
        assert_eq!(Expr::parse("a - b - c").unwrap().to_string(), "((a - b) - c)");
    }

    #[test]
    fn bad_expressions_say_why() {
        assert!(Expr::parse("n *").unwrap_err().contains("ends early"));
        assert!(Expr::parse("(n").unwrap_err().contains("not closed"));
        assert!(Expr::parse("n m").unwrap_err().contains("unexpected `m`"));
        assert!(Expr::parse("n % 2").unwrap_err().contains("unexpected `%`"));
        assert!(eval("n / 0", &[("n", 1)]).unwrap_err().contains("zero"));
        assert!(eval("n * m", &[("n", 1)]).unwrap_err().contains("`m` is not given"));
    }

    #[test]
    fn names_in_order() {
        assert_eq!(Expr::parse("(a + b) * a / BLOCK").unwrap().names(), ["a", "b", "a", "BLOCK"]);
    }
}

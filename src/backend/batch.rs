//! A batch of tokens for one forward pass, from one or more sequences (llama.cpp's
//! `llama_batch`): each token says where it goes (sequence and position) and whether its logits
//! are wanted. Prompt processing, decoding and, later, a server's continuous batching all go
//! through this one type.

use std::ops::Range;

use super::BackendError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchToken {
    pub token: u32,
    pub pos: usize,
    pub seq: usize,
    pub logits: bool,
}

/// Consecutive tokens of one sequence at consecutive positions: attention and the KV cache
/// work on runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub seq: usize,
    pub pos0: usize,
    /// Index of the run's first token in the batch.
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Batch {
    tokens: Vec<BatchToken>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, token: u32, pos: usize, seq: usize, logits: bool) {
        self.tokens.push(BatchToken { token, pos, seq, logits });
    }

    /// `tokens` of sequence `seq` from position `pos0` on; logits for the tokens from index
    /// `logits_from` on.
    pub fn sequence(tokens: &[u32], pos0: usize, seq: usize, logits_from: usize) -> Self {
        let mut b = Batch::new();
        for (i, &t) in tokens.iter().enumerate() {
            b.push(t, pos0 + i, seq, i >= logits_from);
        }
        b
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn tokens(&self) -> &[BatchToken] {
        &self.tokens
    }

    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.tokens.iter().map(|t| t.token)
    }

    /// Batch indices of the tokens whose logits are wanted, in order.
    pub fn logit_rows(&self) -> Vec<usize> {
        self.tokens.iter().enumerate().filter(|(_, t)| t.logits).map(|(i, _)| i).collect()
    }

    /// The batch as runs, checked against the sequences' current lengths (`seq_len`): the batch
    /// is not empty, every run continues its sequence, and every sequence is one the executor
    /// holds.
    pub fn runs(
        &self,
        n_seq: usize,
        n_ctx: usize,
        n_vocab: usize,
        seq_len: impl Fn(usize) -> usize,
    ) -> Result<Vec<Run>, BackendError> {
        if self.tokens.is_empty() {
            return Err(BackendError::BadBatch("the batch has no tokens".into()));
        }
        let mut runs: Vec<Run> = Vec::new();
        let mut lens: Vec<Option<usize>> = vec![None; n_seq];
        for (i, t) in self.tokens.iter().enumerate() {
            if t.seq >= n_seq {
                return Err(BackendError::BadBatch(format!("sequence {} is beyond the executor's {n_seq}", t.seq)));
            }
            if t.token as usize >= n_vocab {
                return Err(BackendError::BadToken { token: t.token, n_vocab });
            }
            let expected = *lens[t.seq].get_or_insert_with(|| seq_len(t.seq));
            if t.pos != expected {
                return Err(BackendError::BadBatch(format!(
                    "token {i} of sequence {} is at position {}, the sequence continues at {expected}",
                    t.seq, t.pos
                )));
            }
            if t.pos >= n_ctx {
                return Err(BackendError::ContextFull { n_ctx, needed: t.pos + 1 });
            }
            lens[t.seq] = Some(expected + 1);
            match runs.last_mut() {
                Some(r) if r.seq == t.seq && r.pos0 + r.len == t.pos => r.len += 1,
                _ => runs.push(Run { seq: t.seq, pos0: t.pos, start: i, len: 1 }),
            }
        }
        Ok(runs)
    }
}

/// `runs` (batch order) clipped to the batch tokens `window` (a pass over part of a batch), their `start`s counted from it.
pub fn clip_runs(runs: &[Run], window: &Range<usize>) -> Vec<Run> {
    runs.iter()
        .filter_map(|r| {
            let (a, b) = (r.start.max(window.start), (r.start + r.len).min(window.end));
            (a < b).then(|| Run { seq: r.seq, pos0: r.pos0 + (a - r.start), start: a - window.start, len: b - a })
        })
        .collect()
}

/// `rows` of a batch's `n_outputs` output rows, or the error naming what was asked.
pub(crate) fn check_output_rows(rows: &Range<usize>, n_outputs: usize) -> Result<(), BackendError> {
    if rows.start > rows.end || rows.end > n_outputs {
        return Err(BackendError::BadBatch(format!(
            "logits of rows {rows:?} asked for, the last batch has {n_outputs} output rows"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_by_sequence_and_check_positions() {
        let mut b = Batch::sequence(&[1, 2, 3], 4, 0, 2);
        b.push(9, 0, 1, true);
        b.push(4, 7, 0, true);
        let runs = b.runs(2, 16, 100, |s| if s == 0 { 4 } else { 0 }).unwrap();
        assert_eq!(
            runs,
            [
                Run { seq: 0, pos0: 4, start: 0, len: 3 },
                Run { seq: 1, pos0: 0, start: 3, len: 1 },
                Run { seq: 0, pos0: 7, start: 4, len: 1 }
            ]
        );
        assert_eq!(b.logit_rows(), [2, 3, 4]);
        assert!(b.runs(2, 16, 100, |_| 0).unwrap_err().to_string().contains("continues at 0"));
        assert!(b.runs(1, 16, 100, |s| if s == 0 { 4 } else { 0 }).is_err());
        assert!(matches!(b.runs(2, 6, 100, |s| if s == 0 { 4 } else { 0 }), Err(BackendError::ContextFull { .. })));
        assert!(matches!(b.runs(2, 16, 5, |s| if s == 0 { 4 } else { 0 }), Err(BackendError::BadToken { .. })));
        assert!(Batch::new().runs(1, 16, 100, |_| 0).is_err());
        assert_eq!(
            clip_runs(&runs, &(2..5)),
            [
                Run { seq: 0, pos0: 6, start: 0, len: 1 },
                Run { seq: 1, pos0: 0, start: 1, len: 1 },
                Run { seq: 0, pos0: 7, start: 2, len: 1 }
            ]
        );
    }
}

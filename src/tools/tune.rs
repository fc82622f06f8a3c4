//! `rocmforge tune`'s work: each tuned family timed at the launches a model makes, once per
//! combination of its tuning axes' values (kernel_bench's method: graphs of launches, the
//! mat-vecs over weight copies larger than the L2 cache), the fastest becoming a row of the
//! bundle's tuning table: the mat-vecs at a decode step's shapes, the GEMM at a prompt's for a
//! few token counts up to the pass size.

use rocmforge::backend::gpu::engine::{gpu_quant, UBATCH};
use rocmforge::backend::gpu::launchers::{for_quant, gemm_f16, matvec, matvec_glu, matvec_multi, ForQuant};
use rocmforge::backend::gpu::tuning::{multi_sizes, Choice, GemmShape, MatrixShape};
use rocmforge::backend::gpu::{Kernels, LaunchError, Quant, QuantBlock};
use rocmforge::model::{Matrix, Model};
use rocmforge_codegen::bundle::Tuned;
use rocmforge_codegen::kernels::catalog;

use crate::tools::kernel_bench::{gemm_bench_at, matvec_bench_at, matvec_glu_bench_at, matvec_multi_bench_at};

/// The fastest choice must beat the defaults by this fraction: runs of the same launches differ by
/// up to ~3 % on an H200.
const MIN_GAIN: f64 = 0.03;

/// Token counts the GEMM is tuned at: a pass of more than the batched mat-vec's 32 tokens takes
/// the row of the next one up (`ByTokens`).
const GEMM_TOKENS: [u64; 4] = [64, 128, 256, UBATCH as u64];

/// A launch of a tuned family that a forward pass makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// One matrix.
    Matvec(MatrixShape),
    /// Gate and up of one format (the gate's shape), with the activation.
    Glu(MatrixShape),
    /// Two or three projections of one input and format (Q, K, V; the largest first, 0 rows for
    /// an absent one).
    Multi { quant: Quant, rows: [u64; 3], n_cols: u64 },
    /// A prompt's projection through the matrix units (after dequantization to f16).
    Gemm(GemmShape),
}

impl Launch {
    pub fn family(&self) -> &'static str {
        match self {
            Launch::Matvec(_) => matvec::FAMILY,
            Launch::Glu(_) => matvec_glu::FAMILY,
            Launch::Multi { .. } => matvec_multi::FAMILY,
            Launch::Gemm(_) => gemm_f16::FAMILY,
        }
    }

    /// The weight format, for the families that read one.
    pub fn quant(&self) -> Option<Quant> {
        match *self {
            Launch::Matvec(m) | Launch::Glu(m) => Some(m.quant),
            Launch::Multi { quant, .. } => Some(quant),
            Launch::Gemm(_) => None,
        }
    }

    /// The sizes its row of the tuning table is keyed by (those the engine looks up).
    pub fn sizes(&self) -> Vec<(&'static str, u64)> {
        match *self {
            Launch::Matvec(m) | Launch::Glu(m) => m.sizes().to_vec(),
            Launch::Multi { rows, n_cols, .. } => multi_sizes(rows, n_cols).to_vec(),
            Launch::Gemm(g) => g.sizes().to_vec(),
        }
    }
}

impl std::fmt::Display for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Launch::Matvec(m) | Launch::Glu(m) => write!(f, "{} {} {}x{}", self.family(), m.quant, m.n_rows, m.n_cols),
            Launch::Multi { quant, rows, n_cols } => {
                write!(f, "{} {quant} {}+{}+{}x{n_cols}", self.family(), rows[0], rows[1], rows[2])
            }
            Launch::Gemm(g) => write!(f, "{} {}x{}x{}", self.family(), g.m, g.n, g.k),
        }
    }
}

fn shape(m: &Matrix) -> Option<MatrixShape> {
    Some(MatrixShape { quant: gpu_quant(m.ty)?, n_rows: m.rows as u64, n_cols: m.cols as u64 })
}

/// The tuned launches `model` makes, each once. A decode step: the mat-vec of every matrix (the
/// LM head included), gate and up together where they share a format, and Q, K and V grouped by
/// format as the engine groups them (groups of two or three). A prompt, at each of
/// `GEMM_TOKENS`: the GEMM of Q, K and V together, of the attention output, gate, up and down
/// projections, and of the LM head (perplexity asks for every token's logits). Formats the GPU
/// does not read are left out (the model cannot run there).
pub fn model_launches(model: &Model) -> Vec<Launch> {
    let w = &model.weights;
    let mut out: Vec<Launch> = Vec::new();
    let mut add = |l: Launch| {
        if !out.contains(&l) {
            out.push(l);
        }
    };
    for l in &w.layers {
        for m in [&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down].into_iter().filter_map(shape) {
            add(Launch::Matvec(m));
        }
        if l.ffn_gate.ty == l.ffn_up.ty {
            shape(&l.ffn_gate).map(Launch::Glu).into_iter().for_each(&mut add);
        }
        let qkv: Vec<MatrixShape> = [&l.wq, &l.wk, &l.wv].into_iter().filter_map(shape).collect();
        for quant in qkv.iter().map(|m| m.quant) {
            let mut rows: Vec<u64> = qkv.iter().filter(|m| m.quant == quant).map(|m| m.n_rows).collect();
            if rows.len() >= 2 {
                rows.sort_by(|a, b| b.cmp(a));
                rows.resize(3, 0);
                add(Launch::Multi { quant, rows: [rows[0], rows[1], rows[2]], n_cols: qkv[0].n_cols });
            }
        }
    }
    shape(&w.output).map(Launch::Matvec).into_iter().for_each(&mut add);
    for &m in &GEMM_TOKENS {
        for l in &w.layers {
            let qkv: u64 = [&l.wq, &l.wk, &l.wv].iter().map(|w| w.rows as u64).sum();
            let each = [&l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down].map(|w| (w.rows as u64, w.cols as u64));
            for (n, k) in [(qkv, l.wq.cols as u64)].into_iter().chain(each) {
                add(Launch::Gemm(GemmShape { m, n, k }));
            }
        }
        add(Launch::Gemm(GemmShape { m, n: w.output.rows as u64, k: w.output.cols as u64 }));
    }
    out
}

/// What tuning one launch found: each choice's time, and the row for the table.
pub struct Outcome {
    pub launch: Launch,
    /// Microseconds per launch for each combination of the tuning axes' values.
    pub times: Vec<(Choice, f64)>,
    pub row: Tuned,
}

/// Times each launch with every combination of its family's tuning axes' values on the GPU of
/// `k` (`device` names it in the rows); `progress` hears of each launch as it starts.
pub fn tune(
    k: &Kernels,
    launches: &[Launch],
    device: &str,
    progress: &dyn Fn(&Launch),
) -> Result<Vec<Outcome>, LaunchError> {
    launches
        .iter()
        .map(|&launch| {
            progress(&launch);
            let default = k.tuning_defaults(launch.family(), launch.quant())?;
            let times = combinations(launch.family(), &default)
                .into_iter()
                .map(|choice| {
                    let us = time_launch(k, launch, &choice)?;
                    Ok((choice, us))
                })
                .collect::<Result<Vec<_>, LaunchError>>()?;
            Ok(outcome(launch, times, &default, device))
        })
        .collect()
}

/// Every combination of the values of `family`'s tuning axes (those of `default`).
pub(crate) fn combinations(family: &str, default: &Choice) -> Vec<Choice> {
    let family = catalog().into_iter().find(|f| f.name == family);
    let values = |axis: &str| family.as_ref().and_then(|f| f.int_values(axis)).unwrap_or_default();
    let mut out: Vec<Vec<(&'static str, u32)>> = vec![Vec::new()];
    for &(axis, _) in default.values() {
        let values = values(axis);
        out = out
            .into_iter()
            .flat_map(|prefix| values.iter().map(move |&v| [prefix.clone(), vec![(axis, v)]].concat()))
            .collect();
    }
    out.into_iter().map(Choice::new).collect()
}

/// The row for `launch`: the fastest choice, unless it beats `default` by less than `MIN_GAIN`.
fn outcome(launch: Launch, times: Vec<(Choice, f64)>, default: &Choice, device: &str) -> Outcome {
    let time_of = |c: &Choice| times.iter().find(|(t, _)| t == c).map_or(f64::INFINITY, |(_, us)| *us);
    let default_micros = time_of(default);
    let fastest = times.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map_or(default, |(c, _)| c);
    let chosen = if time_of(fastest) < default_micros * (1.0 - MIN_GAIN) { fastest } else { default };
    let row = Tuned {
        family: launch.family().to_string(),
        quant: launch.quant().map(|q| q.name().to_string()),
        shape: launch.sizes().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        axes: chosen.values().iter().map(|&(a, v)| (a.to_string(), v)).collect(),
        device: device.to_string(),
        micros: time_of(chosen),
        default_micros,
    };
    Outcome { launch, times, row }
}

/// Microseconds of one launch with one choice of its tuning axes.
fn time_launch(k: &Kernels, launch: Launch, choice: &Choice) -> Result<f64, LaunchError> {
    match launch {
        Launch::Matvec(m) | Launch::Glu(m) => for_quant(m.quant, TimeAt { k, launch, choice }),
        Launch::Multi { quant, .. } => for_quant(quant, TimeAt { k, launch, choice }),
        Launch::Gemm(shape) => Ok(gemm_bench_at(k, shape, Some(choice))?.micros),
    }
}

/// Times one launch with one choice of its tuning axes, for its weight format.
struct TimeAt<'a> {
    k: &'a Kernels,
    launch: Launch,
    choice: &'a Choice,
}

impl ForQuant for TimeAt<'_> {
    type Output = Result<f64, LaunchError>;

    fn run<W: QuantBlock + 'static>(self) -> Self::Output {
        let result = match self.launch {
            Launch::Matvec(m) => matvec_bench_at::<W>(self.k, m.n_rows as usize, m.n_cols as usize, self.choice)?,
            Launch::Glu(m) => matvec_glu_bench_at::<W>(self.k, m.n_rows as usize, m.n_cols as usize, self.choice)?,
            Launch::Multi { rows, n_cols, .. } => {
                matvec_multi_bench_at::<W>(self.k, rows.map(|r| r as usize), n_cols as usize, self.choice)?
            }
            Launch::Gemm(shape) => gemm_bench_at(self.k, shape, Some(self.choice))?,
        };
        Ok(result.micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch() -> Launch {
        Launch::Matvec(MatrixShape { quant: Quant::Q4_0, n_rows: 4096, n_cols: 4096 })
    }

    fn choice(rows: u32, loads: u32) -> Choice {
        Choice::new(vec![("rows", rows), ("loads", loads)])
    }

    #[test]
    fn every_combination_of_the_tuning_axes_is_timed() {
        let all = combinations(matvec::FAMILY, &choice(16, 8));
        assert_eq!(all, vec![choice(8, 8), choice(8, 16), choice(16, 8), choice(16, 16)]);
    }

    #[test]
    fn the_fastest_choice_wins_only_past_the_noise() {
        let times = |fast: f64| vec![(choice(8, 8), fast), (choice(16, 8), 4.0), (choice(16, 16), 4.4)];
        let row = outcome(launch(), times(3.5), &choice(16, 8), "gpu").row;
        assert_eq!((row.axes["rows"], row.axes["loads"]), (8, 8));
        assert_eq!((row.micros, row.default_micros), (3.5, 4.0));
        assert_eq!(row.quant.as_deref(), Some("q4_0"));
        assert_eq!(row.shape["n_rows"], 4096);
        let row = outcome(launch(), times(3.98), &choice(16, 8), "gpu").row;
        assert_eq!(row.axes["rows"], 16, "0.5 % is within the noise");
        assert_eq!(row.micros, 4.0);
    }

    #[test]
    fn a_multi_row_is_keyed_as_the_engine_looks_it_up() {
        let l = Launch::Multi { quant: Quant::Q4K, rows: [4096, 1024, 0], n_cols: 4096 };
        let row = outcome(l, vec![(choice(16, 8), 2.0)], &choice(16, 8), "gpu").row;
        let sizes = multi_sizes([4096, 1024, 0], 4096);
        assert_eq!(row.shape.len(), sizes.len());
        assert!(sizes.iter().all(|(k, v)| row.shape[*k] == *v));
        assert_eq!(row.family, "matvec_multi");
    }
}

//! `rocmforge tune`'s work: the mat-vec timed at each of a model's matrix shapes, once per value
//! of its tuning axis (kernel_bench's method: graphs of launches over weight copies larger than
//! the L2 cache), the fastest becoming a row of the bundle's tuning table.

use rocmforge::backend::gpu::engine::gpu_quant;
use rocmforge::backend::gpu::launchers::{for_quant, matvec, ForQuant};
use rocmforge::backend::gpu::tuning::{Choice, MatrixShape};
use rocmforge::backend::gpu::{Kernels, LaunchError, QuantBlock};
use rocmforge::model::Model;
use rocmforge_codegen::bundle::Tuned;
use rocmforge_codegen::kernels::catalog;
use rocmforge_codegen::variant::AxisValue;

use crate::tools::kernel_bench::matvec_bench_at;

/// The fastest choice must beat the defaults by this fraction: runs of the same launches differ by
/// up to ~3 % on an H200.
const MIN_GAIN: f64 = 0.03;

/// The tuned family. (`matvec_glu` keeps fixed rows: at 16 rows a workgroup it spills registers
/// for Q3_K on sm_90.)
const FAMILY: &str = matvec::FAMILY;

/// The mat-vec shapes of `model`, each once: every matrix's that the mat-vec may run alone (the
/// LM head included). Formats the GPU does not read are left out (the model cannot run there).
pub fn model_shapes(model: &Model) -> Vec<MatrixShape> {
    let w = &model.weights;
    let layers = w.layers.iter().flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down]);
    let mut out: Vec<MatrixShape> = Vec::new();
    for m in layers.chain([&w.output]) {
        let Some(quant) = gpu_quant(m.ty) else { continue };
        let shape = MatrixShape { quant, n_rows: m.rows as u64, n_cols: m.cols as u64 };
        if !out.contains(&shape) {
            out.push(shape);
        }
    }
    out
}

/// What tuning one shape found: each choice's time, and the row for the table.
pub struct Outcome {
    pub shape: MatrixShape,
    /// Microseconds per launch for each combination of the tuning axes' values.
    pub times: Vec<(Choice, f64)>,
    pub row: Tuned,
}

/// Times the mat-vec at each shape with every combination of its tuning axes' values on the GPU
/// of `k` (`device` names it in the rows); `progress` hears of each shape as it starts.
pub fn tune(
    k: &Kernels,
    shapes: &[MatrixShape],
    device: &str,
    progress: &dyn Fn(&MatrixShape),
) -> Result<Vec<Outcome>, LaunchError> {
    let default = k.tuning_defaults(FAMILY)?;
    let choices = combinations(&default);
    shapes
        .iter()
        .map(|&shape| {
            progress(&shape);
            let times = choices
                .iter()
                .map(|choice| Ok((choice.clone(), for_quant(shape.quant, TimeAt { k, shape, choice })?)))
                .collect::<Result<Vec<_>, LaunchError>>()?;
            Ok(outcome(shape, times, &default, device))
        })
        .collect()
}

/// Every combination of the values of the family's tuning axes (those of `default`).
fn combinations(default: &Choice) -> Vec<Choice> {
    let family = catalog().into_iter().find(|f| f.name == FAMILY).expect("the tuned family is in the catalog");
    let mut out: Vec<Vec<(&'static str, u32)>> = vec![Vec::new()];
    for &(axis, _) in default.values() {
        let values: Vec<u32> = family
            .axes
            .iter()
            .filter(|a| a.name == axis)
            .flat_map(|a| &a.values)
            .filter_map(|v| match v {
                AxisValue::Int(n) => Some(*n),
                _ => None,
            })
            .collect();
        out = out
            .into_iter()
            .flat_map(|prefix| values.iter().map(move |&v| [prefix.clone(), vec![(axis, v)]].concat()))
            .collect();
    }
    out.into_iter().map(Choice::new).collect()
}

/// The row for `shape`: the fastest choice, unless it beats `default` by less than `MIN_GAIN`.
fn outcome(shape: MatrixShape, times: Vec<(Choice, f64)>, default: &Choice, device: &str) -> Outcome {
    let time_of = |c: &Choice| times.iter().find(|(t, _)| t == c).map_or(f64::INFINITY, |(_, us)| *us);
    let default_micros = time_of(default);
    let fastest = times.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map_or(default, |(c, _)| c);
    let chosen = if time_of(fastest) < default_micros * (1.0 - MIN_GAIN) { fastest } else { default };
    let row = Tuned {
        family: FAMILY.to_string(),
        quant: Some(shape.quant.name().to_string()),
        shape: [("n_rows".to_string(), shape.n_rows), ("n_cols".to_string(), shape.n_cols)].into(),
        axes: chosen.values().iter().map(|&(a, v)| (a.to_string(), v)).collect(),
        device: device.to_string(),
        micros: time_of(chosen),
        default_micros,
    };
    Outcome { shape, times, row }
}

/// Times the mat-vec at one shape and one choice of the tuning axes, for the shape's format.
struct TimeAt<'a> {
    k: &'a Kernels,
    shape: MatrixShape,
    choice: &'a Choice,
}

impl ForQuant for TimeAt<'_> {
    type Output = Result<f64, LaunchError>;

    fn run<W: QuantBlock + 'static>(self) -> Self::Output {
        let (rows, cols) = (self.shape.n_rows as usize, self.shape.n_cols as usize);
        Ok(matvec_bench_at::<W>(self.k, rows, cols, self.choice)?.micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocmforge::backend::gpu::Quant;

    fn shape() -> MatrixShape {
        MatrixShape { quant: Quant::Q4_0, n_rows: 4096, n_cols: 4096 }
    }

    fn choice(rows: u32, loads: u32) -> Choice {
        Choice::new(vec![("rows", rows), ("loads", loads)])
    }

    #[test]
    fn every_combination_of_the_tuning_axes_is_timed() {
        let all = combinations(&choice(16, 8));
        assert_eq!(all, vec![choice(8, 8), choice(8, 16), choice(16, 8), choice(16, 16)]);
    }

    #[test]
    fn the_fastest_choice_wins_only_past_the_noise() {
        let times = |fast: f64| vec![(choice(8, 8), fast), (choice(16, 8), 4.0), (choice(16, 16), 4.4)];
        let row = outcome(shape(), times(3.5), &choice(16, 8), "gpu").row;
        assert_eq!((row.axes["rows"], row.axes["loads"]), (8, 8));
        assert_eq!((row.micros, row.default_micros), (3.5, 4.0));
        assert_eq!(row.quant.as_deref(), Some("q4_0"));
        assert_eq!(row.shape["n_rows"], 4096);
        let row = outcome(shape(), times(3.98), &choice(16, 8), "gpu").row;
        assert_eq!(row.axes["rows"], 16, "0.5 % is within the noise");
        assert_eq!(row.micros, 4.0);
    }
}

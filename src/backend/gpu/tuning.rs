//! The bundle's tuning table at run time. A family with tuning axes is resolved once with its
//! defaults and once for each row of the table (`rocmforge tune`'s winners per weight format and
//! launch sizes), so a launch picks its variant by its sizes with a short scan, and sizes the
//! table does not name run the defaults. The mat-vecs look rows up by format and exact sizes
//! (`ByShape`), the GEMM by its sizes with the token count rounded up to a tuned one
//! (`ByTokens`).

use std::collections::BTreeMap;

use super::{Kernels, LaunchError, Quant};

/// A matrix's format and shape: what picks a tuned mat-vec's variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixShape {
    pub quant: Quant,
    pub n_rows: u64,
    pub n_cols: u64,
}

impl MatrixShape {
    /// The launch sizes a mat-vec of this matrix is tuned by.
    pub fn sizes(&self) -> [(&'static str, u64); 2] {
        [("n_rows", self.n_rows), ("n_cols", self.n_cols)]
    }
}

/// The launch sizes `matvec_multi` is tuned by: its matrices' rows (the largest first, 0 for an
/// absent one) and their columns.
pub fn multi_sizes(rows: [u64; 3], n_cols: u64) -> [(&'static str, u64); 4] {
    [("rows_a", rows[0]), ("rows_b", rows[1]), ("rows_c", rows[2]), ("n_cols", n_cols)]
}

/// A value for each of a family's tuning axes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice(Vec<(&'static str, u32)>);

impl Choice {
    pub fn new(values: Vec<(&'static str, u32)>) -> Self {
        Choice(values)
    }

    /// The value of `axis`, which must be one of the family's tuning axes (a launcher names the
    /// axes of its own family).
    pub fn get(&self, axis: &str) -> u32 {
        self.0.iter().find(|(a, _)| *a == axis).map(|(_, v)| *v).unwrap_or_else(|| panic!("no tuning axis `{axis}`"))
    }

    pub fn values(&self) -> &[(&'static str, u32)] {
        &self.0
    }

    /// These values, with those `row` gives for the same axes instead.
    fn overridden(&self, row: &BTreeMap<String, u32>) -> Choice {
        Choice(self.0.iter().map(|&(axis, v)| (axis, row.get(axis).copied().unwrap_or(v))).collect())
    }
}

/// A tuned family's launchers (`K`, e.g. a generated `ByQuant`) for each row of the table, and
/// for the sizes it does not name (per weight format: a family may default differently by format).
pub struct ByShape<K> {
    tuned: Vec<(Quant, BTreeMap<String, u64>, K)>,
    /// The launchers of each distinct untuned choice, and the one each format takes.
    defaults: Vec<K>,
    default_of: Vec<(Quant, usize)>,
}

impl<K> ByShape<K> {
    /// `resolve`s `family` for its defaults and for each of the table's rows of it.
    pub fn resolve(kernels: &Kernels, family: &str, resolve: impl Fn(&Choice) -> K) -> Result<Self, LaunchError> {
        let mut choices: Vec<Choice> = Vec::new();
        let mut default_of = Vec::with_capacity(Quant::ALL.len());
        for quant in Quant::ALL {
            let choice = kernels.tuning_defaults(family, Some(quant))?;
            let index = choices.iter().position(|c| *c == choice).unwrap_or_else(|| {
                choices.push(choice);
                choices.len() - 1
            });
            default_of.push((quant, index));
        }
        let tuned = kernels
            .tuned(family)
            .filter_map(|row| {
                let quant = row.quant.as_deref()?.parse().ok()?;
                let defaults = kernels.tuning_defaults(family, Some(quant)).ok()?;
                Some((quant, row.shape.clone(), resolve(&defaults.overridden(&row.axes))))
            })
            .collect();
        Ok(ByShape { tuned, defaults: choices.iter().map(resolve).collect(), default_of })
    }

    /// The launchers for a launch on `quant` weights of these sizes: its row's, else the
    /// format's defaults'.
    pub fn get(&self, quant: Quant, sizes: &[(&str, u64)]) -> &K {
        let matches = |q: &Quant, shape: &BTreeMap<String, u64>| {
            *q == quant && shape.len() == sizes.len() && sizes.iter().all(|(name, v)| shape.get(*name) == Some(v))
        };
        self.tuned.iter().find(|(q, shape, _)| matches(q, shape)).map_or_else(|| self.default_for(quant), |(_, _, k)| k)
    }

    /// The launchers for a mat-vec of a matrix of this shape.
    pub fn for_matrix(&self, m: MatrixShape) -> &K {
        self.get(m.quant, &m.sizes())
    }

    /// The launchers of `quant` weights at the sizes the table does not name.
    pub fn default_for(&self, quant: Quant) -> &K {
        let index = self.default_of.iter().find(|(q, _)| *q == quant).map_or(0, |&(_, i)| i);
        &self.defaults[index]
    }
}

/// A GEMM's sizes: `m` tokens (rows of A and C), `n` weight rows, `k` columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmShape {
    pub m: u64,
    pub n: u64,
    pub k: u64,
}

impl GemmShape {
    /// The launch sizes a GEMM is tuned by.
    pub fn sizes(&self) -> [(&'static str, u64); 3] {
        [("m", self.m), ("n", self.n), ("k", self.k)]
    }

    fn of_row(shape: &BTreeMap<String, u64>) -> Option<GemmShape> {
        Some(GemmShape { m: *shape.get("m")?, n: *shape.get("n")?, k: *shape.get("k")? })
    }
}

/// A tuned family without a weight format (the GEMM), picked by its launch's token count: a row
/// timed at `m` tokens serves passes of its `n` and `k` from the next smaller tuned `m` up to
/// `m` (`rocmforge tune` times a few token counts up to the pass size); other passes are the
/// caller's to choose (`engine::Gemm`).
pub struct ByTokens<K> {
    /// Sorted by `m`.
    tuned: Vec<(GemmShape, Choice, K)>,
}

impl<K> ByTokens<K> {
    /// `resolve`s `family` for each of the table's rows of it.
    pub fn resolve(
        kernels: &Kernels,
        family: &str,
        resolve: impl Fn(&Choice) -> Result<K, LaunchError>,
    ) -> Result<Self, LaunchError> {
        let defaults = kernels.tuning_defaults(family, None)?;
        let mut tuned = Vec::new();
        for row in kernels.tuned(family) {
            let Some(shape) = GemmShape::of_row(&row.shape) else { continue };
            let choice = defaults.overridden(&row.axes);
            let k = resolve(&choice)?;
            tuned.push((shape, choice, k));
        }
        tuned.sort_by_key(|(shape, _, _)| shape.m);
        Ok(ByTokens { tuned })
    }

    /// The launcher of the row for a pass of these sizes, and its choice of the tuning axes.
    pub fn row(&self, pass: GemmShape) -> Option<(&Choice, &K)> {
        let row = self.tuned.iter().find(|(s, _, _)| (s.n, s.k) == (pass.n, pass.k) && s.m >= pass.m);
        row.map(|(_, c, k)| (c, k))
    }

    /// Every tuned row's sizes and choice: what a work buffer shared by the launches is sized by.
    pub fn rows(&self) -> impl Iterator<Item = (GemmShape, &Choice)> {
        self.tuned.iter().map(|(s, c, _)| (*s, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gemm_pass_takes_the_row_of_the_next_tuned_token_count() {
        let shape = |m: u64, n: u64| GemmShape { m, n, k: 4096 };
        let choice = |splits: u32| Choice::new(vec![("splits", splits)]);
        let by = ByTokens { tuned: vec![(shape(128, 4096), choice(4), 4), (shape(512, 4096), choice(2), 2)] };
        let pick = |m: u64, n: u64| by.row(shape(m, n)).map(|(_, k)| *k);
        let picks = [pick(33, 4096), pick(128, 4096), pick(129, 4096), pick(512, 4096)];
        assert_eq!(picks, [Some(4), Some(4), Some(2), Some(2)]);
        assert_eq!(pick(513, 4096), None, "past every tuned count");
        assert_eq!(pick(128, 14336), None, "another matrix");
        assert!(by.row(GemmShape { m: 64, n: 4096, k: 14336 }).is_none(), "another k");
        assert_eq!(by.row(shape(64, 4096)).map(|(c, _)| c.get("splits")), Some(4));
    }

    #[test]
    fn a_row_overrides_only_the_axes_it_names() {
        let defaults = Choice::new(vec![("rows", 16), ("loads", 8)]);
        let row = [("loads".to_string(), 16), ("stages".to_string(), 3)].into();
        let chosen = defaults.overridden(&row);
        assert_eq!((chosen.get("rows"), chosen.get("loads")), (16, 16));
        assert_eq!(chosen.values().len(), 2, "an axis the family lacks is not added");
    }
}

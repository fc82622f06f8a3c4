//! The bundle's tuning table at run time. A family with tuning axes is resolved once with its
//! defaults and once for each row of the table (`rocmforge tune`'s winners per weight format and
//! shape), so a launch picks its variant by shape with a short scan, and shapes the table does
//! not name run the defaults.

use super::{Kernels, LaunchError, Quant};

/// The launches a row of the tuning table is for: a weight format and a matrix shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixShape {
    pub quant: Quant,
    pub n_rows: u64,
    pub n_cols: u64,
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
    fn overridden(&self, row: &std::collections::BTreeMap<String, u32>) -> Choice {
        Choice(self.0.iter().map(|&(axis, v)| (axis, row.get(axis).copied().unwrap_or(v))).collect())
    }
}

/// A tuned family's launchers (`K`, e.g. a generated `ByQuant`) for each tuned shape, and for
/// the rest.
pub struct ByShape<K> {
    tuned: Vec<(MatrixShape, K)>,
    default: K,
}

impl<K> ByShape<K> {
    /// `resolve`s `family` for its defaults and for each of the table's rows of it whose shape
    /// is a matrix's (`n_rows`, `n_cols` and a format).
    pub fn resolve(kernels: &Kernels, family: &str, resolve: impl Fn(&Choice) -> K) -> Result<Self, LaunchError> {
        let defaults = kernels.tuning_defaults(family)?;
        let tuned = kernels
            .tuned(family)
            .filter_map(|row| {
                let quant = row.quant.as_deref()?.parse().ok()?;
                let shape = MatrixShape { quant, n_rows: *row.shape.get("n_rows")?, n_cols: *row.shape.get("n_cols")? };
                Some((shape, resolve(&defaults.overridden(&row.axes))))
            })
            .collect();
        Ok(ByShape { tuned, default: resolve(&defaults) })
    }

    /// The launchers for `shape`: its row's, else the defaults'.
    pub fn get(&self, shape: MatrixShape) -> &K {
        self.tuned.iter().find(|(s, _)| *s == shape).map_or(&self.default, |(_, k)| k)
    }

    /// The launchers of the shapes the table does not name.
    pub fn default(&self) -> &K {
        &self.default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_overrides_only_the_axes_it_names() {
        let defaults = Choice::new(vec![("rows", 16), ("loads", 8)]);
        let row = [("loads".to_string(), 16), ("stages".to_string(), 3)].into();
        let chosen = defaults.overridden(&row);
        assert_eq!((chosen.get("rows"), chosen.get("loads")), (16, 16));
        assert_eq!(chosen.values().len(), 2, "an axis the family lacks is not added");
    }
}

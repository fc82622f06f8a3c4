//! Launch geometry: a family's workgroup size, its grid as rules over the launch's named sizes,
//! and its dynamic shared memory.

use crate::{MatrixUnit, Target};

/// How a grid dimension follows from the launch arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grid {
    One,
    /// The value of a scalar parameter or of a launch-only dimension.
    Dim(&'static str),
    /// `ceil(dim / per)`: one workgroup per `per` items.
    CeilDiv(&'static str, Per),
    /// `ceil(dim / axis)`: one workgroup per as many items as the variant's integer axis `axis`
    /// says (a tuning axis: [`Tuning`]).
    CeilDivAxis(&'static str, &'static str),
    /// A fixed count.
    Fixed(u32),
}

/// Items one workgroup covers along a grid dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Per {
    Items(u32),
    /// One item per wave: `threads / wave_size` items per workgroup.
    Wave,
    /// One item per thread.
    Thread,
    /// A count that depends on the target's wave size.
    WaveSize {
        wave32: u32,
        wave64: u32,
    },
    /// A tile edge that depends on the target's matrix unit (matrix-unit kernels).
    Unit {
        wmma: u32,
        mfma: u32,
        mma: u32,
    },
}

impl Per {
    /// Items a workgroup of `threads` covers on `target`.
    pub fn items(self, threads: u32, target: Target) -> u32 {
        match self {
            Per::Items(n) => n,
            Per::Wave => threads / target.wave_size(),
            Per::Thread => threads,
            Per::WaveSize { wave32, wave64 } => match target.wave_size() {
                32 => wave32,
                _ => wave64,
            },
            Per::Unit { wmma, mfma, mma } => match target.matrix_unit() {
                MatrixUnit::Wmma => wmma,
                MatrixUnit::Mfma => mfma,
                MatrixUnit::Mma => mma,
            },
        }
    }
}

/// Launch geometry: a fixed workgroup size and a grid computed from named dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Launch {
    pub threads: u32,
    pub grid: [Grid; 3],
    /// Dimensions the grid needs that are not kernel parameters (e.g. the number of rows when
    /// each workgroup handles one row and the kernel never reads the count).
    pub dims: &'static [&'static str],
    /// Bytes of shared memory a workgroup takes beyond its static arrays (`extern __shared__`),
    /// given at launch: what lets a workgroup use more than the 48 KiB that CUDA allows static.
    pub dynamic_shared: Per,
}

impl Launch {
    /// Grid dimensions for the given named sizes (`lookup` returns a parameter's, a launch-only
    /// dimension's or an integer axis's value).
    pub fn grid_for(&self, target: Target, lookup: impl Fn(&str) -> Option<u64>) -> Result<[u32; 3], String> {
        let mut out = [1u32; 3];
        for (slot, g) in out.iter_mut().zip(self.grid) {
            let value = match g {
                Grid::One => 1,
                Grid::Fixed(n) => u64::from(n),
                Grid::Dim(name) => lookup(name).ok_or_else(|| format!("launch dimension `{name}` is not given"))?,
                Grid::CeilDiv(name, per) => {
                    let n = lookup(name).ok_or_else(|| format!("launch dimension `{name}` is not given"))?;
                    n.div_ceil(u64::from(per.items(self.threads, target)))
                }
                Grid::CeilDivAxis(name, axis) => {
                    let n = lookup(name).ok_or_else(|| format!("launch dimension `{name}` is not given"))?;
                    let per =
                        lookup(axis).filter(|&per| per > 0).ok_or_else(|| format!("axis `{axis}` is not given"))?;
                    n.div_ceil(per)
                }
            };
            *slot = u32::try_from(value).map_err(|_| format!("grid dimension {value} exceeds 2^32-1"))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_follows_the_rule() {
        let launch = Launch {
            threads: 256,
            grid: [Grid::CeilDiv("rows", Per::Wave), Grid::Dim("n"), Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        };
        let dims = |name: &str| match name {
            "rows" => Some(4097),
            "n" => Some(3),
            _ => None,
        };
        assert_eq!(launch.grid_for(Target::Gfx942, dims).unwrap(), [1025, 3, 1]);
        assert_eq!(launch.grid_for(Target::Gfx1100, dims).unwrap(), [513, 3, 1]);
        assert!(launch.grid_for(Target::Sm90, |_| None).unwrap_err().contains("rows"));
        let tiled = Launch {
            threads: 256,
            grid: [Grid::CeilDiv("rows", Per::Unit { wmma: 64, mfma: 32, mma: 128 }), Grid::One, Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        };
        assert_eq!(tiled.grid_for(Target::Gfx1100, dims).unwrap(), [65, 1, 1]);
        assert_eq!(tiled.grid_for(Target::Gfx950, dims).unwrap(), [129, 1, 1]);
        assert_eq!(tiled.grid_for(Target::Sm90, dims).unwrap(), [33, 1, 1]);
    }
}

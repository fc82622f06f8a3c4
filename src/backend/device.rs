//! Which device runs a model: `--device cpu|cuda[:N]|hip[:N]|sim[:N]|auto`.

use std::fmt;
use std::str::FromStr;

use super::gpu::GpuKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The first GPU whose kernel bundle is present or can be compiled, else the CPU.
    #[default]
    Auto,
    Cpu,
    Gpu {
        kind: GpuKind,
        ordinal: usize,
    },
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, ordinal) = match s.split_once(':') {
            Some((name, n)) => {
                let ordinal =
                    n.parse().map_err(|_| format!("bad device ordinal {n:?} in {s:?} (expected e.g. cuda:0)"))?;
                (name, Some(ordinal))
            }
            None => (s, None),
        };
        match (name, ordinal) {
            ("auto", None) => Ok(DeviceSpec::Auto),
            ("cpu", None) => Ok(DeviceSpec::Cpu),
            ("auto" | "cpu", Some(_)) => Err(format!("{name} takes no ordinal")),
            _ => {
                let kind = name
                    .parse::<GpuKind>()
                    .map_err(|_| format!("unknown device {s:?} (expected cpu, cuda[:N], hip[:N], sim[:N] or auto)"))?;
                Ok(DeviceSpec::Gpu { kind, ordinal: ordinal.unwrap_or(0) })
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Gpu { kind, ordinal } => write!(f, "{kind}:{ordinal}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_names_the_bad_ones() {
        assert_eq!("auto".parse(), Ok(DeviceSpec::Auto));
        assert_eq!("cpu".parse(), Ok(DeviceSpec::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceSpec::Gpu { kind: GpuKind::Cuda, ordinal: 0 }));
        assert_eq!("hip:3".parse(), Ok(DeviceSpec::Gpu { kind: GpuKind::Hip, ordinal: 3 }));
        assert!("gpu".parse::<DeviceSpec>().unwrap_err().contains("unknown device"));
        assert!("cuda:x".parse::<DeviceSpec>().unwrap_err().contains("ordinal"));
        assert!("cpu:1".parse::<DeviceSpec>().is_err());
    }
}

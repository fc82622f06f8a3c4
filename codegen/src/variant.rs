//! A variant: one kernel family specialised to one target and one value per axis. Its key
//! (`rope[mode=neox,head_dim=128]`) names it in a bundle; its symbol (`rope_neox_d128`) is the
//! kernel's name in the code object.

use std::fmt;

use crate::quant::Quant;
use crate::{Host, Target};

/// A value of a specialisation axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AxisValue {
    Quant(Quant),
    Int(u32),
    Word(&'static str),
}

impl fmt::Display for AxisValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AxisValue::Quant(q) => write!(f, "{q}"),
            AxisValue::Int(n) => write!(f, "{n}"),
            AxisValue::Word(w) => f.write_str(w),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Variant {
    pub family: &'static str,
    pub target: Target,
    /// Workgroup size, from the family's launch rule (templates use it for launch bounds and
    /// for sizing shared memory).
    pub threads: u32,
    pub axes: Vec<(&'static str, AxisValue)>,
    /// Where this variant's code runs when that is not `target`: `target`'s algorithm (its wave
    /// size, tile sizes and launch geometry) compiled for another GPU or the CPU, whose prelude
    /// emulates `target`'s wave. Lets the H200, or a machine without a GPU, execute the AMD logic.
    pub emulated_on: Option<Host>,
}

impl Variant {
    pub fn new(family: &'static str, target: Target, threads: u32, axes: Vec<(&'static str, AxisValue)>) -> Self {
        Variant { family, target, threads, axes, emulated_on: None }
    }

    /// This variant compiled for `host`, `target`'s wave emulated there.
    pub fn emulated_on(self, host: Host) -> Variant {
        Variant { emulated_on: Some(host), ..self }
    }

    /// Where the code object is compiled for and runs.
    pub fn host(&self) -> Host {
        self.emulated_on.unwrap_or(Host::Gpu(self.target))
    }

    pub fn get(&self, axis: &str) -> Option<AxisValue> {
        self.axes.iter().find(|(name, _)| *name == axis).map(|(_, v)| *v)
    }

    pub fn quant(&self) -> Option<Quant> {
        self.axes.iter().find_map(|(_, v)| match v {
            AxisValue::Quant(q) => Some(*q),
            _ => None,
        })
    }

    /// An integer axis; `render` functions call this for axes their family declares.
    pub fn int(&self, axis: &str) -> u32 {
        match self.get(axis) {
            Some(AxisValue::Int(n)) => n,
            other => panic!("variant {self} has no integer axis `{axis}` (found {other:?}); the family declaration and its render function disagree"),
        }
    }

    pub fn word(&self, axis: &str) -> &'static str {
        match self.get(axis) {
            Some(AxisValue::Word(w)) => w,
            other => panic!("variant {self} has no word axis `{axis}` (found {other:?}); the family declaration and its render function disagree"),
        }
    }

    /// The bundle key: `family[axis=value,…]`, or the family name alone when it has no axes.
    pub fn key(&self) -> String {
        if self.axes.is_empty() {
            return self.family.to_string();
        }
        let axes: Vec<String> = self.axes.iter().map(|(n, v)| format!("{n}={v}")).collect();
        format!("{}[{}]", self.family, axes.join(","))
    }

    /// The kernel's symbol in the code object: the family name and the axis values
    /// (`head_dim` values as `d128`, `rows` as `r16`, `loads` as `l8`).
    pub fn symbol(&self) -> String {
        let mut s = self.family.to_string();
        for (name, value) in &self.axes {
            match value {
                AxisValue::Int(n) if *name == "head_dim" => s.push_str(&format!("_d{n}")),
                AxisValue::Int(n) if *name == "rows" => s.push_str(&format!("_r{n}")),
                AxisValue::Int(n) if *name == "loads" => s.push_str(&format!("_l{n}")),
                v => s.push_str(&format!("_{v}")),
            }
        }
        s
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for {}", self.key(), self.target)?;
        match self.emulated_on {
            Some(host) => write!(f, " (emulated on {host})"),
            None => Ok(()),
        }
    }
}

//! Quantized weight formats the GPU kernels read, with ggml's block geometry. The names are
//! ggml's (`GGML_TYPE_Q4_0` → `q4_0`), and each has a device header `templates/quant/<name>.h`
//! defining `block_<name>` and its dequantization.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quant {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Mxfp4,
}

impl Quant {
    pub const ALL: [Quant; 11] = [
        Quant::Q4_0,
        Quant::Q4_1,
        Quant::Q5_0,
        Quant::Q5_1,
        Quant::Q8_0,
        Quant::Q2K,
        Quant::Q3K,
        Quant::Q4K,
        Quant::Q5K,
        Quant::Q6K,
        Quant::Mxfp4,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Quant::Q4_0 => "q4_0",
            Quant::Q4_1 => "q4_1",
            Quant::Q5_0 => "q5_0",
            Quant::Q5_1 => "q5_1",
            Quant::Q8_0 => "q8_0",
            Quant::Q2K => "q2_k",
            Quant::Q3K => "q3_k",
            Quant::Q4K => "q4_k",
            Quant::Q5K => "q5_k",
            Quant::Q6K => "q6_k",
            Quant::Mxfp4 => "mxfp4",
        }
    }

    pub fn block_type(self) -> String {
        format!("block_{}", self.name())
    }

    /// Weights per block.
    pub const fn block_elems(self) -> u32 {
        match self {
            Quant::Q2K | Quant::Q3K | Quant::Q4K | Quant::Q5K | Quant::Q6K => 256,
            _ => 32,
        }
    }

    /// Bytes per block (ggml's `ggml_type_size`); the host's block structs are checked against
    /// it at compile time (`rocmforge::backend::gpu::QuantBlock`).
    pub const fn block_bytes(self) -> u32 {
        match self {
            Quant::Q4_0 => 18,
            Quant::Q4_1 => 20,
            Quant::Q5_0 => 22,
            Quant::Q5_1 => 24,
            Quant::Q8_0 => 34,
            Quant::Q2K => 84,
            Quant::Q3K => 110,
            Quant::Q4K => 144,
            Quant::Q5K => 176,
            Quant::Q6K => 210,
            Quant::Mxfp4 => 17,
        }
    }
}

impl fmt::Display for Quant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Quant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Quant::ALL.into_iter().find(|q| q.name() == lower).ok_or_else(|| {
            let known: Vec<&str> = Quant::ALL.iter().map(|q| q.name()).collect();
            format!("unknown quant format {s:?} (known: {})", known.join(", "))
        })
    }
}

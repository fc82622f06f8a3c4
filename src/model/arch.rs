//! Supported architectures and the per-architecture facts the graph needs.

use super::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Llama 1/2/3 and Mistral 7B (which GGUF converters write as `llama`).
    Llama,
    /// Qwen2 / Qwen2.5: llama with Q/K/V biases and NEOX rope.
    Qwen2,
    /// Gemma 3: embedding scale, pre and post norms, QK-norm, sliding-window layers, GeGLU.
    Gemma3,
}

/// How rotary embeddings pair dimensions (ggml's `GGML_ROPE_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeKind {
    /// Adjacent pairs (x[2i], x[2i+1]): llama (whose converter permutes Q/K to suit).
    Normal,
    /// Halves (x[i], x[i + n/2]): GPT-NeoX, Qwen2, Gemma.
    Neox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// SiLU(gate) * up.
    SwiGlu,
    /// GELU (tanh approximation)(gate) * up.
    GeGlu,
}

impl Arch {
    pub fn from_name(name: &str) -> Result<Self, ModelError> {
        match name {
            "llama" | "mistral" => Ok(Arch::Llama),
            "qwen2" => Ok(Arch::Qwen2),
            "gemma3" => Ok(Arch::Gemma3),
            other => Err(ModelError::UnknownArchitecture(other.to_string())),
        }
    }

    pub fn rope_kind(self) -> RopeKind {
        match self {
            Arch::Llama => RopeKind::Normal,
            Arch::Qwen2 | Arch::Gemma3 => RopeKind::Neox,
        }
    }

    pub fn activation(self) -> Activation {
        match self {
            Arch::Gemma3 => Activation::GeGlu,
            Arch::Llama | Arch::Qwen2 => Activation::SwiGlu,
        }
    }

    /// Gemma norms the attention and FFN outputs before the residual add, and Q/K per head.
    pub fn has_post_norms(self) -> bool {
        self == Arch::Gemma3
    }

    pub fn has_qk_norm(self) -> bool {
        self == Arch::Gemma3
    }

    pub fn has_qkv_bias(self) -> bool {
        self == Arch::Qwen2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_architecture_is_named() {
        let err = Arch::from_name("mamba9").unwrap_err();
        assert!(err.to_string().contains("mamba9"), "{err}");
    }
}

use std::path::PathBuf;

use crate::{Host, Target};

/// Everything that can go wrong between a template and a validated bundle. Each message names
/// the variant (or file) and what disagreed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rendering {variant}: {error}")]
    Render { variant: String, error: askama::Error },

    #[error("{variant}: templates/{template} disagrees with the catalog: {detail}")]
    Signature { variant: String, template: &'static str, detail: String },

    #[error("no toolchain for {target}: {detail}\n  install one with: scripts/install-toolchain.sh")]
    Toolchain { target: String, detail: String },

    #[error("compiling {variant} failed ({command}):\n{log}")]
    Compile { variant: String, command: String, log: String },

    #[error("reading a code object: {0}")]
    Object(String),

    #[error("{variant}: the code object disagrees with the catalog: {field}: {detail}")]
    Validation { variant: String, field: &'static str, detail: String },

    #[error(
        "cannot emulate {target}'s wave on {host}: only AMD targets' waves are emulated, on an NVIDIA GPU or the CPU"
    )]
    Emulation { target: Target, host: Host },

    #[error("{path}: {detail}")]
    Bundle { path: PathBuf, detail: String },

    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
}

impl Error {
    pub(crate) fn object(detail: impl Into<String>) -> Self {
        Error::Object(detail.into())
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |error| Error::Io { path, error }
    }
}

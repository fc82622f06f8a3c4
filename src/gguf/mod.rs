//! GGUF files: reading metadata and tensors from a memory map, and writing small files for tests.
//!
//! The format is ggml's `gguf.h`; type ids and block sizes come from `ggml.h`/`ggml-common.h`
//! and are checked against files written by the PyPI `gguf` package (see `tests/gguf_files.rs`).

mod reader;
mod types;
mod value;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use reader::{TensorInfo, DEFAULT_ALIGNMENT};
pub use types::GgmlType;
pub use value::{Array, Value};
pub use writer::GgufWriter;

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot open {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("not a GGUF file: magic is {0:02x?}, expected \"GGUF\"")]
    BadMagic([u8; 4]),
    #[error("GGUF version {0} is not supported (2 and 3 are)")]
    UnsupportedVersion(u32),
    #[error("file is truncated: {what} at byte {offset} runs past the end")]
    Truncated { offset: u64, what: String },
    #[error("absurd {what} {count} at byte {offset}: the file is too small to hold that many")]
    AbsurdCount { offset: u64, what: String, count: u64 },
    #[error("{what} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { offset: u64, what: String },
    #[error("metadata key {key:?} has unknown value type id {type_id}")]
    UnknownValueType { key: String, type_id: u32 },
    #[error("metadata key {key:?}: {problem}")]
    BadValue { key: String, problem: String },
    #[error("general.alignment = {0} is not a positive power of two")]
    BadAlignment(String),
    #[error("tensor {name:?} has unknown ggml type id {type_id}")]
    UnknownTensorType { name: String, type_id: u32 },
    #[error("tensor {name:?}: {problem}")]
    BadTensor { name: String, problem: String },
    #[error("tensor {name:?} data [{offset}, +{bytes}) lies outside the {data_len}-byte data section")]
    TensorOutOfBounds { name: String, offset: u64, bytes: u64, data_len: u64 },
    #[error("metadata key {0:?} is missing")]
    MissingKey(String),
    #[error("metadata key {key:?} is a {found}, expected {expected}")]
    WrongType { key: String, expected: &'static str, found: String },
    #[error("tensor {0:?} is missing")]
    MissingTensor(String),
}

enum Storage {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file. Tensor data stays in the memory map and is borrowed, never copied.
pub struct Gguf {
    storage: Storage,
    pub version: u32,
    pub alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, Value)>,
    index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl Gguf {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref();
        let io = |error| GgufError::Io { path: path.to_path_buf(), error };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; like every mmap-based loader (llama.cpp included) we
        // rely on the model file not being truncated by another process while it is in use.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::from_storage(Storage::Mapped(map))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GgufError> {
        Self::from_storage(Storage::Owned(bytes))
    }

    fn from_storage(storage: Storage) -> Result<Self, GgufError> {
        let parsed = reader::parse(storage.bytes())?;
        let index = parsed.metadata.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        let tensor_index = parsed.tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Ok(Gguf {
            storage,
            version: parsed.version,
            alignment: parsed.alignment,
            data_offset: parsed.data_offset,
            metadata: parsed.metadata,
            index,
            tensors: parsed.tensors,
            tensor_index,
        })
    }

    pub fn file_size(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    /// Metadata in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.metadata[i].1)
    }

    fn require(&self, key: &str) -> Result<&Value, GgufError> {
        self.get(key).ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }

    fn wrong(key: &str, expected: &'static str, v: &Value) -> GgufError {
        GgufError::WrongType { key: key.to_string(), expected, found: v.type_name().to_string() }
    }

    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| Self::wrong(key, "string", v))
    }

    pub fn get_i64(&self, key: &str) -> Result<i64, GgufError> {
        let v = self.require(key)?;
        v.as_i64().ok_or_else(|| Self::wrong(key, "integer", v))
    }

    /// A non-negative integer that fits in a `usize`.
    pub fn get_usize(&self, key: &str) -> Result<usize, GgufError> {
        let v = self.require(key)?;
        v.as_i64().and_then(|x| usize::try_from(x).ok()).ok_or_else(|| Self::wrong(key, "non-negative integer", v))
    }

    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        let v = self.require(key)?;
        v.as_f64().map(|x| x as f32).ok_or_else(|| Self::wrong(key, "number", v))
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        let v = self.require(key)?;
        v.as_bool().ok_or_else(|| Self::wrong(key, "bool", v))
    }

    pub fn get_array(&self, key: &str) -> Result<&Array, GgufError> {
        let v = self.require(key)?;
        v.as_array().ok_or_else(|| Self::wrong(key, "array", v))
    }

    /// `None` when absent; an error when present with the wrong type.
    pub fn opt<T>(&self, key: &str, get: impl Fn(&Self, &str) -> Result<T, GgufError>) -> Result<Option<T>, GgufError> {
        if self.get(key).is_none() {
            return Ok(None);
        }
        get(self, key).map(Some)
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i]).ok_or_else(|| GgufError::MissingTensor(name.to_string()))
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.tensor_index.contains_key(name)
    }

    /// The bytes of a tensor (bounds were checked when the file was parsed).
    pub fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        let start = (self.data_offset + info.offset) as usize;
        &self.storage.bytes()[start..start + info.n_bytes as usize]
    }

    pub fn architecture(&self) -> Result<&str, GgufError> {
        self.get_str("general.architecture")
    }
}

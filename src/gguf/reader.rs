//! Parsing a GGUF file (v2, v3) from bytes: header, metadata, tensor infos, data section.
//!
//! Every count, length and size read from the file is checked against the bytes that are
//! actually left before anything is allocated, so a corrupt header is an error, never an
//! out-of-memory abort or a panic.

use super::types::GgmlType;
use super::value::{type_id, Array, Value};
use super::GgufError;

const MAGIC: &[u8; 4] = b"GGUF";
/// ggml's `GGML_MAX_DIMS`.
const MAX_DIMS: u32 = 4;
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Arrays nest in no real file; bounding the depth keeps a hostile file from recursing forever.
const MAX_ARRAY_DEPTH: u32 = 4;

#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the row length (fastest-varying).
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset from the start of the data section.
    pub offset: u64,
    pub n_elements: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    pub fn row_len(&self) -> usize {
        self.dims.first().copied().unwrap_or(1) as usize
    }

    pub fn n_rows(&self) -> usize {
        (self.n_elements / self.dims.first().copied().unwrap_or(1).max(1)) as usize
    }
}

pub(super) struct Parsed {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    pub data_offset: u64,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated { offset: self.pos as u64, what: what.to_string() });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of items that each take at least `min_item_bytes`: rejected when the file
    /// cannot possibly hold that many.
    fn count(&mut self, min_item_bytes: usize, what: &str) -> Result<usize, GgufError> {
        let offset = self.pos as u64;
        let n = self.u64(what)?;
        let fits =
            usize::try_from(n).ok().filter(|&n| n.checked_mul(min_item_bytes).is_some_and(|b| b <= self.remaining()));
        fits.ok_or_else(|| GgufError::AbsurdCount { offset, what: what.to_string(), count: n })
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let offset = self.pos as u64;
        let len = self.count(1, what)?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::InvalidUtf8 { offset, what: what.to_string() })
    }
}

pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, GgufError> {
    let mut c = Cursor { bytes, pos: 0 };
    let magic = c.array::<4>("magic")?;
    if &magic != MAGIC {
        return Err(GgufError::BadMagic(magic));
    }
    let version = c.u32("version")?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion(version));
    }
    // A tensor info takes at least 8 (name len) + 4 (n_dims) + 4 (type) + 8 (offset) bytes,
    // a key/value pair at least 8 (key len) + 4 (type) + 1.
    let n_tensors = c.count(24, "tensor count")?;
    let n_kv = c.count(13, "metadata count")?;

    let mut metadata = Vec::with_capacity(n_kv);
    for _ in 0..n_kv {
        let key = c.string("metadata key")?;
        let ty = c.u32(&key)?;
        let value = read_value(&mut c, ty, &key, 0)?;
        metadata.push((key, value));
    }

    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, v)) => match v.as_i64() {
            Some(a) if a > 0 && (a as u64).is_power_of_two() => a as u64,
            _ => return Err(GgufError::BadAlignment(v.to_string())),
        },
    };

    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(n_tensors);
    for _ in 0..n_tensors {
        tensors.push(read_tensor_info(&mut c)?);
    }

    let data_offset = (c.pos as u64).next_multiple_of(alignment);
    let data_len = (bytes.len() as u64).saturating_sub(data_offset);
    check_tensors(&tensors, alignment, data_len)?;

    Ok(Parsed { version, metadata, tensors, alignment, data_offset })
}

fn read_tensor_info(c: &mut Cursor) -> Result<TensorInfo, GgufError> {
    let name = c.string("tensor name")?;
    let n_dims = c.u32(&name)?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(GgufError::BadTensor { name, problem: format!("{n_dims} dimensions (1 to {MAX_DIMS} allowed)") });
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64(&name)?);
    }
    let type_id = c.u32(&name)?;
    let ggml_type =
        GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType { name: name.clone(), type_id })?;
    let offset = c.u64(&name)?;

    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n > 0 && n <= i64::MAX as u64)
        .ok_or_else(|| GgufError::BadTensor { name: name.clone(), problem: format!("absurd shape {dims:?}") })?;
    if dims[0] % ggml_type.block_len() as u64 != 0 {
        return Err(GgufError::BadTensor {
            name,
            problem: format!(
                "row length {} is not a multiple of the {ggml_type} block ({})",
                dims[0],
                ggml_type.block_len()
            ),
        });
    }
    let n_bytes = ggml_type.bytes_for(n_elements).ok_or_else(|| GgufError::BadTensor {
        name: name.clone(),
        problem: format!("byte size of shape {dims:?} overflows"),
    })?;
    Ok(TensorInfo { name, dims, ggml_type, offset, n_elements, n_bytes })
}

fn check_tensors(tensors: &[TensorInfo], alignment: u64, data_len: u64) -> Result<(), GgufError> {
    let mut names = std::collections::HashSet::with_capacity(tensors.len());
    for t in tensors {
        if !names.insert(t.name.as_str()) {
            return Err(GgufError::BadTensor { name: t.name.clone(), problem: "duplicate tensor name".into() });
        }
        if t.offset % alignment != 0 {
            return Err(GgufError::BadTensor {
                name: t.name.clone(),
                problem: format!("data offset {} is not aligned to {alignment}", t.offset),
            });
        }
        let end = t.offset.checked_add(t.n_bytes);
        if end.is_none_or(|e| e > data_len) {
            return Err(GgufError::TensorOutOfBounds {
                name: t.name.clone(),
                offset: t.offset,
                bytes: t.n_bytes,
                data_len,
            });
        }
    }
    Ok(())
}

fn read_value(c: &mut Cursor, ty: u32, key: &str, depth: u32) -> Result<Value, GgufError> {
    Ok(match ty {
        type_id::U8 => Value::U8(c.array::<1>(key)?[0]),
        type_id::I8 => Value::I8(c.array::<1>(key)?[0] as i8),
        type_id::U16 => Value::U16(u16::from_le_bytes(c.array(key)?)),
        type_id::I16 => Value::I16(i16::from_le_bytes(c.array(key)?)),
        type_id::U32 => Value::U32(c.u32(key)?),
        type_id::I32 => Value::I32(i32::from_le_bytes(c.array(key)?)),
        type_id::F32 => Value::F32(f32::from_le_bytes(c.array(key)?)),
        type_id::BOOL => Value::Bool(read_bool(c, key)?),
        type_id::STRING => Value::String(c.string(key)?),
        type_id::U64 => Value::U64(c.u64(key)?),
        type_id::I64 => Value::I64(i64::from_le_bytes(c.array(key)?)),
        type_id::F64 => Value::F64(f64::from_le_bytes(c.array(key)?)),
        type_id::ARRAY => Value::Array(read_array(c, key, depth)?),
        other => return Err(GgufError::UnknownValueType { key: key.to_string(), type_id: other }),
    })
}

fn read_bool(c: &mut Cursor, key: &str) -> Result<bool, GgufError> {
    match c.array::<1>(key)?[0] {
        0 => Ok(false),
        1 => Ok(true),
        b => Err(GgufError::BadValue { key: key.to_string(), problem: format!("bool byte {b}") }),
    }
}

fn read_array(c: &mut Cursor, key: &str, depth: u32) -> Result<Array, GgufError> {
    if depth >= MAX_ARRAY_DEPTH {
        return Err(GgufError::BadValue { key: key.to_string(), problem: "arrays nested too deep".into() });
    }
    let elem = c.u32(key)?;
    macro_rules! fixed {
        ($variant:ident, $t:ty) => {{
            const W: usize = std::mem::size_of::<$t>();
            let n = c.count(W, key)?;
            let raw = c.take(n * W, key)?;
            Array::$variant(
                raw.chunks_exact(W).map(|b| <$t>::from_le_bytes(b.try_into().unwrap_or_default())).collect(),
            )
        }};
    }
    Ok(match elem {
        type_id::U8 => fixed!(U8, u8),
        type_id::I8 => fixed!(I8, i8),
        type_id::U16 => fixed!(U16, u16),
        type_id::I16 => fixed!(I16, i16),
        type_id::U32 => fixed!(U32, u32),
        type_id::I32 => fixed!(I32, i32),
        type_id::F32 => fixed!(F32, f32),
        type_id::U64 => fixed!(U64, u64),
        type_id::I64 => fixed!(I64, i64),
        type_id::F64 => fixed!(F64, f64),
        type_id::BOOL => {
            let n = c.count(1, key)?;
            Array::Bool((0..n).map(|_| read_bool(c, key)).collect::<Result<_, _>>()?)
        }
        type_id::STRING => {
            let n = c.count(8, key)?;
            Array::String((0..n).map(|_| c.string(key)).collect::<Result<_, _>>()?)
        }
        type_id::ARRAY => {
            let n = c.count(12, key)?;
            Array::Array((0..n).map(|_| read_array(c, key, depth + 1)).collect::<Result<_, _>>()?)
        }
        other => return Err(GgufError::UnknownValueType { key: key.to_string(), type_id: other }),
    })
}

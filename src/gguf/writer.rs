//! A small GGUF v3 writer: synthetic models and corrupt-file tests build their inputs with it.

use super::types::GgmlType;
use super::value::{type_id, Array, Value};
use super::DEFAULT_ALIGNMENT;
use std::io::{self, Write};

#[derive(Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn meta(&mut self, key: &str, value: Value) -> &mut Self {
        self.metadata.push((key.to_string(), value));
        self
    }

    /// `dims` in ggml order (row length first); `data` must hold exactly the tensor's bytes.
    pub fn tensor(&mut self, name: &str, dims: &[u64], ty: GgmlType, data: Vec<u8>) -> &mut Self {
        let n: u64 = dims.iter().product();
        assert_eq!(ty.bytes_for(n), Some(data.len() as u64), "tensor {name}: data size does not match its shape");
        self.tensors.push((name.to_string(), dims.to_vec(), ty, data));
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out).expect("writing to memory cannot fail");
        out
    }

    /// Writes the file to `out` (a multi-gigabyte model goes to disk without a copy in memory).
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let align = DEFAULT_ALIGNMENT as usize;
        let mut head = Vec::new();
        head.extend_from_slice(b"GGUF");
        head.extend_from_slice(&3u32.to_le_bytes());
        head.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        head.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut head, k);
            put_value(&mut head, v);
        }
        let mut offset = 0usize;
        for (name, dims, ty, data) in &self.tensors {
            put_str(&mut head, name);
            head.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                head.extend_from_slice(&d.to_le_bytes());
            }
            head.extend_from_slice(&ty.id().to_le_bytes());
            head.extend_from_slice(&(offset as u64).to_le_bytes());
            offset = (offset + data.len()).next_multiple_of(align);
        }
        head.resize(head.len().next_multiple_of(align), 0);
        out.write_all(&head)?;
        let padding = [0u8; DEFAULT_ALIGNMENT as usize];
        for (_, _, _, data) in &self.tensors {
            out.write_all(data)?;
            out.write_all(&padding[..data.len().next_multiple_of(align) - data.len()])?;
        }
        Ok(())
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn value_type(v: &Value) -> u32 {
    match v {
        Value::U8(_) => type_id::U8,
        Value::I8(_) => type_id::I8,
        Value::U16(_) => type_id::U16,
        Value::I16(_) => type_id::I16,
        Value::U32(_) => type_id::U32,
        Value::I32(_) => type_id::I32,
        Value::F32(_) => type_id::F32,
        Value::Bool(_) => type_id::BOOL,
        Value::String(_) => type_id::STRING,
        Value::Array(_) => type_id::ARRAY,
        Value::U64(_) => type_id::U64,
        Value::I64(_) => type_id::I64,
        Value::F64(_) => type_id::F64,
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(&value_type(v).to_le_bytes());
    put_payload(out, v);
}

fn put_payload(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => put_str(out, s),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Array(a) => put_array(out, a),
    }
}

fn put_array(out: &mut Vec<u8>, a: &Array) {
    macro_rules! items {
        ($tid:expr, $v:expr, $wrap:expr) => {{
            out.extend_from_slice(&$tid.to_le_bytes());
            out.extend_from_slice(&($v.len() as u64).to_le_bytes());
            for x in $v {
                put_payload(out, &$wrap(x.clone()));
            }
        }};
    }
    match a {
        Array::U8(v) => items!(type_id::U8, v, Value::U8),
        Array::I8(v) => items!(type_id::I8, v, Value::I8),
        Array::U16(v) => items!(type_id::U16, v, Value::U16),
        Array::I16(v) => items!(type_id::I16, v, Value::I16),
        Array::U32(v) => items!(type_id::U32, v, Value::U32),
        Array::I32(v) => items!(type_id::I32, v, Value::I32),
        Array::F32(v) => items!(type_id::F32, v, Value::F32),
        Array::Bool(v) => items!(type_id::BOOL, v, Value::Bool),
        Array::String(v) => items!(type_id::STRING, v, Value::String),
        Array::U64(v) => items!(type_id::U64, v, Value::U64),
        Array::I64(v) => items!(type_id::I64, v, Value::I64),
        Array::F64(v) => items!(type_id::F64, v, Value::F64),
        Array::Array(v) => items!(type_id::ARRAY, v, Value::Array),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{Gguf, GgufError};

    #[test]
    fn written_file_reads_back() {
        let mut w = GgufWriter::new();
        w.meta("general.architecture", Value::String("llama".into()))
            .meta("a.u32", Value::U32(7))
            .meta("a.list", Value::Array(Array::String(vec!["x".into(), "yz".into()])))
            .meta("a.nested", Value::Array(Array::Array(vec![Array::I32(vec![1, -2])])))
            .tensor("t", &[32, 2], GgmlType::Q8_0, vec![1u8; 68]);
        let g = Gguf::from_bytes(w.to_bytes()).unwrap();
        assert_eq!(g.architecture().unwrap(), "llama");
        assert_eq!(g.get_usize("a.u32").unwrap(), 7);
        assert_eq!(g.get_array("a.list").unwrap(), &Array::String(vec!["x".into(), "yz".into()]));
        let t = g.tensor_info("t").unwrap();
        assert_eq!((t.row_len(), t.n_rows(), t.n_bytes), (32, 2, 68));
        assert_eq!(g.tensor_bytes(t), &[1u8; 68][..]);
        assert!(matches!(g.get_str("a.u32"), Err(GgufError::WrongType { .. })));
        assert!(matches!(g.tensor_info("nope"), Err(GgufError::MissingTensor(_))));
    }
}

//! Corrupt and hostile GGUF files give errors that name the problem, never a panic.

mod common;

use common::Synth;
use rocmforge::gguf::{Array, GgmlType, Gguf, GgufWriter, Value};
use rocmforge::model::Model;
use rocmforge::tokenizer::Tokenizer;

fn err_of(bytes: Vec<u8>) -> String {
    match Gguf::from_bytes(bytes) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn tiny_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.meta("general.architecture", Value::String("llama".into())).tensor("t", &[32, 2], GgmlType::Q8_0, vec![7u8; 68]);
    w.to_bytes()
}

/// Byte offset of the tensor info in `tiny_file`: the 24-byte header, then one key/value
/// (key length, key, value type, string length, "llama").
fn tensor_info_offset() -> usize {
    24 + 8 + "general.architecture".len() + 4 + 8 + "llama".len()
}

#[test]
fn wrong_magic() {
    let mut b = tiny_file();
    b[0] = b'X';
    assert!(err_of(b).contains("not a GGUF file"));
}

#[test]
fn truncated_everywhere() {
    let b = tiny_file();
    // The tensor's 68 bytes are followed by alignment padding to 96, which may be cut freely.
    let end_of_data = b.len() - (96 - 68);
    for len in 0..end_of_data {
        let e = err_of(b[..len].to_vec());
        assert!(e.contains("truncated") || e.contains("outside") || e.contains("absurd"), "len {len}: {e}");
    }
}

#[test]
fn unknown_tensor_type() {
    let mut b = tiny_file();
    let ti = tensor_info_offset();
    let type_at = ti + 8 + 1 + 4 + 16; // name len, "t", n_dims, two dims
    b[type_at..type_at + 4].copy_from_slice(&4u32.to_le_bytes()); // retired Q4_2
    let e = err_of(b);
    assert!(e.contains("unknown ggml type id 4") && e.contains("\"t\""), "{e}");
}

#[test]
fn tensor_data_out_of_bounds() {
    let mut b = tiny_file();
    let ti = tensor_info_offset();
    let off_at = ti + 8 + 1 + 4 + 16 + 4;
    b[off_at..off_at + 8].copy_from_slice(&4096u64.to_le_bytes());
    let e = err_of(b);
    assert!(e.contains("outside the") && e.contains("\"t\""), "{e}");
}

#[test]
fn absurd_counts_and_dimensions() {
    let mut b = tiny_file();
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(err_of(b).contains("absurd tensor count"));

    let mut b = tiny_file();
    let ti = tensor_info_offset();
    let dim_at = ti + 8 + 1 + 4;
    b[dim_at + 8..dim_at + 16].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let e = err_of(b);
    assert!(e.contains("\"t\""), "{e}");

    let mut w = GgufWriter::new();
    w.meta("k", Value::Array(Array::U32(vec![1, 2, 3])));
    let mut b = w.to_bytes();
    let count_at = 24 + 8 + 1 + 4 + 4;
    b[count_at..count_at + 8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(err_of(b).contains("absurd"));
}

#[test]
fn unknown_architecture_is_named() {
    let mut w = GgufWriter::new();
    w.meta("general.architecture", Value::String("mamba9".into()));
    let g = Gguf::from_bytes(w.to_bytes()).unwrap();
    let e = Model::from_gguf(g).err().expect("unknown architecture must fail").to_string();
    assert!(e.contains("mamba9"), "{e}");
}

#[test]
fn missing_tensor_is_named() {
    let mut s = Synth::tiny("llama");
    s.n_layer = 1;
    let full = s.build().to_bytes();
    // Rename a required tensor by flipping one byte of its name.
    let needle = b"blk.0.ffn_up.weight";
    let at = full.windows(needle.len()).position(|w| w == needle).expect("name present");
    let mut b = full.clone();
    b[at + 6] = b'X';
    let g = Gguf::from_bytes(b).unwrap();
    let e = Model::from_gguf(g).err().expect("missing tensor must fail").to_string();
    assert!(e.contains("blk.0.ffn_up.weight"), "{e}");
}

/// A tiny xorshift, so the mutations are the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Mutates header bytes of real files thousands of times; every outcome must be Ok or Err.
#[test]
fn mutated_headers_never_panic() {
    let vocab = std::fs::read(common::fixture("vocab/ggml-vocab-llama-spm.gguf")).unwrap();
    let model = Synth::tiny("gemma3").build().to_bytes();
    for (name, file, header_len, rounds) in [("vocab", &vocab, 4096usize, 1500u64), ("model", &model, 4096, 3000)] {
        let header_len = header_len.min(file.len());
        for seed in 1..=rounds {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut b = file.clone();
            for _ in 0..1 + rng.next() % 8 {
                let at = (rng.next() % header_len as u64) as usize;
                b[at] = match rng.next() % 4 {
                    0 => 0,
                    1 => 0xFF,
                    2 => b[at] ^ (1 << (rng.next() % 8)),
                    _ => rng.next() as u8,
                };
            }
            let result = std::panic::catch_unwind(|| {
                if let Ok(g) = Gguf::from_bytes(b) {
                    let _ = Tokenizer::from_gguf(&g);
                    let _ = Model::from_gguf(g);
                }
            });
            assert!(result.is_ok(), "{name}: mutation seed {seed} panicked");
        }
    }
}

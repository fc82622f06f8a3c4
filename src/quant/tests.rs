//! Every format against the PyPI `gguf` package's dequantizer and quantizer (fixtures written
//! by `scripts/gen_quant_fixtures.py`), and every fast dot product against its scalar twin.

use super::*;

struct Fixture {
    blocks: Vec<u8>,
    values: Vec<f32>,
    /// (inputs, gguf's quantized bytes) for the types gguf can quantize.
    quantized: Option<(Vec<f32>, Vec<u8>)>,
}

fn read_u32(b: &[u8], at: &mut usize) -> usize {
    let v = u32::from_le_bytes(b[*at..*at + 4].try_into().unwrap()) as usize;
    *at += 4;
    v
}

fn read_f32s(b: &[u8], at: &mut usize, n: usize) -> Vec<f32> {
    let v = b[*at..*at + 4 * n].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    *at += 4 * n;
    v
}

fn fixture(ty: GgmlType) -> Fixture {
    let path = format!("{}/tests/fixtures/quant/{}.bin", env!("CARGO_MANIFEST_DIR"), ty.name().to_lowercase());
    let b = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut at = 0;
    let (n_blocks, block_len) = (read_u32(&b, &mut at), read_u32(&b, &mut at));
    assert_eq!(block_len, ty.block_len());
    let n_bytes = n_blocks * ty.block_bytes();
    let blocks = b[at..at + n_bytes].to_vec();
    at += n_bytes;
    let values = read_f32s(&b, &mut at, n_blocks * block_len);
    let quantized = (at < b.len()).then(|| {
        let n = read_u32(&b, &mut at);
        let x = read_f32s(&b, &mut at, n);
        (x, b[at..].to_vec())
    });
    Fixture { blocks, values, quantized }
}

const ALL: [GgmlType; 15] = [
    GgmlType::F16,
    GgmlType::Bf16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2K,
    GgmlType::Q3K,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
    GgmlType::Iq4Nl,
    GgmlType::Iq4Xs,
    GgmlType::Mxfp4,
];

#[test]
fn dequantize_matches_gguf_py_block_by_block() {
    for ty in ALL {
        let f = fixture(ty);
        let mut out = vec![f32::NAN; f.values.len()];
        dequantize_row(ty, &f.blocks, &mut out).unwrap();
        for (i, (got, want)) in out.iter().zip(&f.values).enumerate() {
            // The same f32 operations in a different order may differ in the last bit.
            let tol = 1e-6 * want.abs().max(1e-3);
            assert!(
                (got - want).abs() <= tol,
                "{ty} block {} element {}: {got} vs {want}",
                i / ty.block_len(),
                i % ty.block_len()
            );
        }
    }
}

#[test]
fn reference_quantizers_match_gguf_py() {
    for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Bf16] {
        let (x, want) = fixture(ty).quantized.expect("quantized section");
        let mut got = vec![0u8; want.len()];
        quantize_row(ty, &x, &mut got).unwrap();
        assert_eq!(got, want, "{ty}");
    }
}

#[test]
fn q8_0_quantizer_agrees_with_gguf_py_up_to_rounding_ties() {
    // gguf rounds half away from zero (roundf) with multiplier 1/d; ggml's x86 path, which we
    // follow, rounds half to even with multiplier 127/amax. Quants may differ by one, rarely.
    let (x, want) = fixture(GgmlType::Q8_0).quantized.expect("quantized section");
    let mut got = vec![0u8; want.len()];
    quantize_row(GgmlType::Q8_0, &x, &mut got).unwrap();
    let mut differ = 0;
    for (g, w) in got.chunks_exact(34).zip(want.chunks_exact(34)) {
        assert_eq!(g[..2], w[..2], "scales");
        for (a, b) in g[2..].iter().zip(&w[2..]) {
            let d = (*a as i8 as i32 - *b as i8 as i32).abs();
            assert!(d <= 1);
            differ += d;
        }
    }
    assert!(differ <= 2, "{differ} quants differ");
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
        })
        .collect()
}

/// Blocks of `ty` for `n` elements: from the fixture (repeated) so they are valid.
fn weight_row(ty: GgmlType, n: usize) -> Vec<u8> {
    let f = fixture(ty);
    let need = ty.bytes_for(n as u64).unwrap() as usize;
    f.blocks.iter().cycle().take(need).copied().collect()
}

#[test]
fn fast_dot_products_match_scalar_and_dequantized_reference() {
    for ty in ALL {
        let dot_ty = vec_dot_type(ty).unwrap();
        let (fast, slow) = (vec_dot_fn(ty).unwrap(), vec_dot_ref_fn(ty).unwrap());
        for n_blocks in [1usize, 7, 8] {
            let n = n_blocks * ty.block_len().max(32);
            if ty.bytes_for(n as u64).is_none() || dot_ty.bytes_for(n as u64).is_none() {
                continue;
            }
            let w = weight_row(ty, n);
            let x = random(n, n as u64 + ty.id() as u64);
            let mut xq = vec![0u8; dot_ty.bytes_for(n as u64).unwrap() as usize];
            quantize_row(dot_ty, &x, &mut xq).unwrap();

            let (a, b) = (fast(n, &w, &xq), slow(n, &w, &xq));
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{ty} n={n}: fast {a} vs scalar {b}");
            let batched = (row_plan(ty, TILED_MIN_ROWS).unwrap().bulk)(n, &w, &xq);
            assert!((batched - b).abs() <= 1e-4 * b.abs().max(1.0), "{ty} n={n}: batch kernel {batched} vs scalar {b}");

            let (mut wd, mut xd) = (vec![0.0; n], vec![0.0; n]);
            dequantize_row(ty, &w, &mut wd).unwrap();
            dequantize_row(dot_ty, &xq, &mut xd).unwrap();
            let exact: f64 = wd.iter().zip(&xd).map(|(a, b)| *a as f64 * *b as f64).sum();
            let scale: f64 = wd.iter().zip(&xd).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
            assert!(
                (b as f64 - exact).abs() <= 1e-4 * scale.max(1e-6),
                "{ty} n={n}: scalar {b} vs dequantized {exact}"
            );
        }
    }
}

#[test]
fn activation_quantizers_round_trip() {
    for ty in [GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8K] {
        let x = random(512, 99);
        let mut q = vec![0u8; ty.bytes_for(512).unwrap() as usize];
        quantize_row(ty, &x, &mut q).unwrap();
        let mut back = vec![0.0; 512];
        dequantize_row(ty, &q, &mut back).unwrap();
        let err: f32 = x.iter().zip(&back).map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt();
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!(err / norm < 0.01, "{ty}: relative error {}", err / norm);
    }
}

#[test]
fn wrong_lengths_are_errors() {
    let mut out = vec![0.0; 31];
    assert!(dequantize_row(GgmlType::Q8_0, &[0u8; 34], &mut out).is_err());
    assert!(quantize_row(GgmlType::Q4K, &[0.0; 256], &mut [0u8; 144]).is_err(), "no Q4_K quantizer");
    assert!(vec_dot_fn(GgmlType::Iq2Xxs).is_err());
}

#[test]
fn simd_level_is_reported() {
    eprintln!("quant SIMD level: {}", simd_level());
    if cfg!(target_arch = "x86_64") && std::is_x86_feature_detected!("avx2") {
        assert_eq!(simd_level(), "avx2");
    }
}

/// The many-row and tile kernels give each (row, activation row) pair exactly what the
/// single-row kernel gives it (the matmul picks among them by batch size, so they must agree to
/// the bit); so does the batch kernel's tile.
#[test]
fn many_row_kernels_are_bitwise_the_single_row_one() {
    let mut checked = 0;
    for ty in ALL {
        let (Some(rows_dot), Some(tile)) = (rows_dot_fn(ty), vec_dot_tile_fn(ty)) else { continue };
        let (dot_ty, single) = (vec_dot_type(ty).unwrap(), vec_dot_fn(ty).unwrap());
        // A long row too (the 3-block rows are checked below): past 512 blocks the many-row
        // kernel converts the activations' scales per block rather than up front (x86
        // `ACT_SCALES`).
        rows_match_single_row(ty, 515 * ty.block_len().max(32));
        let n = 3 * ty.block_len().max(32);
        let rows = 5;
        let w = weight_row(ty, n * rows);
        let xs: Vec<Vec<u8>> = (0..TILE_TOKENS as u64)
            .map(|seed| {
                let mut q = vec![0u8; dot_ty.bytes_for(n as u64).unwrap() as usize];
                quantize_row(dot_ty, &random(n, seed + 7), &mut q).unwrap();
                q
            })
            .collect();
        let row_bytes = w.len() / rows;
        let row = |r: usize| &w[r * row_bytes..(r + 1) * row_bytes];
        let mut out = vec![f32::NAN; rows];
        assert!(rows_dot(&w, &xs[0], &mut out), "{ty}: rows kernel refused valid lengths");
        for (r, got) in out.iter().enumerate() {
            assert_eq!(got.to_bits(), single(n, row(r), &xs[0]).to_bits(), "{ty} row {r}");
        }
        assert!(!rows_dot(&w, &xs[0], &mut [0.0; 4]), "{ty}: a row count that does not fit is refused");

        let tile_rows: [&[u8]; TILE_ROWS] = std::array::from_fn(|r| row(r + 1));
        let tile_xs: [&[u8]; TILE_TOKENS] = std::array::from_fn(|t| &xs[t][..]);
        let batch = row_plan(ty, TILED_MIN_ROWS).unwrap();
        let batch_tile = batch.bulk_tile.map(|t| (t, batch.bulk, "batch"));
        for (tile, dot, what) in [(tile, single, "single-row")].into_iter().chain(batch_tile) {
            let got = tile(tile_rows, tile_xs).expect("a tile of one length");
            for (r, w_r) in tile_rows.iter().enumerate() {
                for (t, x) in tile_xs.iter().enumerate() {
                    assert_eq!(got[r][t].to_bits(), dot(n, w_r, x).to_bits(), "{ty} {what} tile ({r}, {t})");
                }
            }
        }
        assert!(tile([&w, row(0)], tile_xs).is_none(), "{ty}: rows of different lengths are refused");
        checked += 1;
    }
    if simd_level() == "avx2" {
        assert_eq!(
            checked, 10,
            "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K, IQ4_NL, IQ4_XS and MXFP4 have many-row kernels"
        );
    } else {
        eprintln!("skipped: no AVX2 on this CPU, so there are no many-row kernels");
    }
}

/// The many-row kernel's results on `n`-column rows, bitwise the single-row kernel's.
fn rows_match_single_row(ty: GgmlType, n: usize) {
    let (Some(rows_dot), dot_ty, single) = (rows_dot_fn(ty), vec_dot_type(ty).unwrap(), vec_dot_fn(ty).unwrap()) else {
        return;
    };
    let rows = 3;
    let w = weight_row(ty, n * rows);
    let mut x = vec![0u8; dot_ty.bytes_for(n as u64).unwrap() as usize];
    quantize_row(dot_ty, &random(n, 11), &mut x).unwrap();
    let mut out = vec![f32::NAN; rows];
    assert!(rows_dot(&w, &x, &mut out), "{ty}: rows kernel refused valid lengths");
    let row_bytes = w.len() / rows;
    for (r, got) in out.iter().enumerate() {
        let want = single(n, &w[r * row_bytes..(r + 1) * row_bytes], &x);
        assert_eq!(got.to_bits(), want.to_bits(), "{ty} row {r} of {n} columns");
    }
}

/// A tile over prepared activation rows gives each pair what the single-row kernel gives it
/// from the rows as quantized, and `prepare` refuses rows of the wrong length.
/// `rows` rewritten by `prepare` into `bytes` each, asserting it accepts them and refuses an
/// output of the wrong length.
fn prepare_all(ty: GgmlType, what: &str, prepare: PrepareFn, bytes: usize, rows: &[&[u8]]) -> Vec<Vec<u8>> {
    assert!(!prepare(rows[0], &mut vec![0u8; bytes + 1]), "{ty}: {what} accepted a wrong length");
    rows.iter()
        .map(|row| {
            let mut out = vec![0u8; bytes];
            assert!(prepare(row, &mut out), "{ty}: {what} refused a valid row");
            out
        })
        .collect()
}

#[test]
fn prepared_tiles_are_bitwise_the_single_row_one() {
    let mut checked = 0;
    for ty in ALL {
        let Some(p) = prepared_tile_fn(ty) else { continue };
        let (dot_ty, single) = (vec_dot_type(ty).unwrap(), vec_dot_fn(ty).unwrap());
        let n = 5 * ty.block_len().max(32);
        let w = weight_row(ty, n * TILE_ROWS);
        let row_bytes = w.len() / TILE_ROWS;
        let xs: Vec<Vec<u8>> = (0..TILE_TOKENS as u64)
            .map(|seed| {
                let mut q = vec![0u8; dot_ty.bytes_for(n as u64).unwrap() as usize];
                quantize_row(dot_ty, &random(n, seed + 11), &mut q).unwrap();
                q
            })
            .collect();
        let rows: [&[u8]; TILE_ROWS] = std::array::from_fn(|r| &w[r * row_bytes..(r + 1) * row_bytes]);
        let xs_ref: Vec<&[u8]> = xs.iter().map(|x| &x[..]).collect();
        let prepared = prepare_all(ty, "prepare", p.prepare, (p.row_bytes)(n), &xs_ref);
        let prepared_w = prepare_all(ty, "prepare_w", p.prepare_w, (p.w_row_bytes)(n), &rows);
        let w_tile: [&[u8]; TILE_ROWS] = std::array::from_fn(|r| &prepared_w[r][..]);
        let got = (p.tile)(w_tile, std::array::from_fn(|t| &prepared[t][..])).expect("a tile of one length");
        for (r, w_r) in rows.iter().enumerate() {
            for (t, x) in xs.iter().enumerate() {
                assert_eq!(got[r][t].to_bits(), single(n, w_r, x).to_bits(), "{ty} prepared tile ({r}, {t})");
            }
        }
        checked += 1;
    }
    eprintln!("{checked} formats have a prepared tile on this CPU");
}

/// The panel GEMM, for every format that has one on this CPU: a full and a partial panel of
/// rows against tokens that take every pass width (8, 4, 2 and 1), each result within f32
/// rounding of the scalar dot product, a token's results the same alone as in the batch and
/// from the stored rows (`rows`), and wrong lengths refused.
#[test]
fn panel_gemm_matches_the_scalar_dot_product() {
    let mut checked = 0;
    for ty in ALL {
        let Some(p) = panel_gemm_fn(ty) else { continue };
        let (dot_ty, scalar) = (vec_dot_type(ty).unwrap(), vec_dot_ref_fn(ty).unwrap());
        let (n, n_rows, n_tokens) = (5 * ty.block_len().max(32), PANEL_ROWS + 5, 15);
        let w = weight_row(ty, n * n_rows);
        let row_bytes = w.len() / n_rows;
        let rows: Vec<&[u8]> = w.chunks_exact(row_bytes).collect();
        let xs: Vec<Vec<u8>> = (0..n_tokens as u64)
            .map(|seed| {
                let mut q = vec![0u8; dot_ty.bytes_for(n as u64).unwrap() as usize];
                quantize_row(dot_ty, &random(n, seed + 5), &mut q).unwrap();
                q
            })
            .collect();
        let xs_ref: Vec<&[u8]> = xs.iter().map(|x| &x[..]).collect();
        let x: Vec<u8> = prepare_all(ty, "prepare_x", p.prepare_x, (p.x_row_bytes)(n), &xs_ref).concat();
        let mut panel = vec![0u8; (p.panel_bytes)(n)];
        assert!(!(p.prepare_panel)(&rows[..PANEL_ROWS + 1], &mut panel), "{ty}: a panel of 17 rows");
        assert!(!(p.prepare_panel)(&rows[..1], &mut panel[1..]), "{ty}: a panel of the wrong length");
        for first in [0, PANEL_ROWS] {
            let panel_rows = &rows[first..n_rows.min(first + PANEL_ROWS)];
            assert!((p.prepare_panel)(panel_rows, &mut panel), "{ty}: rows {first}..");
            let mut out = vec![[f32::NAN; PANEL_ROWS]; n_tokens];
            assert!((p.run)(&panel, &x, &mut out));
            assert!(!(p.run)(&panel, &x[1..], &mut out), "{ty}: activations of the wrong length");
            for (t, x_t) in xs.iter().enumerate() {
                let mut alone = [[f32::NAN; PANEL_ROWS]];
                let row_x = x.len() / n_tokens;
                let x_row = &x[t * row_x..(t + 1) * row_x];
                assert!((p.run)(&panel, x_row, &mut alone));
                if let Some(rows_fn) = p.rows {
                    let stored = &w[first * row_bytes..(first + panel_rows.len()) * row_bytes];
                    let mut got = vec![f32::NAN; panel_rows.len()];
                    assert!(rows_fn(stored, x_row, &mut got), "{ty}: rows refused valid lengths");
                    assert!(!rows_fn(stored, &x_row[1..], &mut got), "{ty}: rows took a short activation row");
                    for (r, g) in got.iter().enumerate() {
                        assert_eq!(g.to_bits(), out[t][r].to_bits(), "{ty} ({r}, {t}): rows and the panel differ");
                    }
                }
                for r in 0..PANEL_ROWS {
                    let got = out[t][r];
                    assert_eq!(got.to_bits(), alone[0][r].to_bits(), "{ty} ({r}, {t}): alone and batched differ");
                    let Some(row) = panel_rows.get(r) else {
                        assert_eq!(got, 0.0, "{ty}: a missing row's result");
                        continue;
                    };
                    let want = scalar(n, row, x_t);
                    let (mut wd, mut xd) = (vec![0.0; n], vec![0.0; n]);
                    dequantize_row(ty, row, &mut wd).unwrap();
                    dequantize_row(dot_ty, x_t, &mut xd).unwrap();
                    let scale: f32 = wd.iter().zip(&xd).map(|(a, b)| (a * b).abs()).sum();
                    assert!((got - want).abs() <= 1e-5 * scale, "{ty} ({r}, {t}): panel {got} vs scalar {want}");
                }
            }
        }
        checked += 1;
    }
    eprintln!("{checked} formats have a panel GEMM on this CPU");
}

#[test]
fn two_addition_rounding_is_round_half_even() {
    let ties = (-520..=520).map(|i| i as f32 * 0.25);
    let others = random(4096, 3).into_iter().map(|v| v * 40.0);
    for v in ties.chain(others).chain([0.0, -0.0, 127.0, -127.0, 126.5, -126.5]) {
        // Equal as numbers: a zero may come out with the other sign, which no quant sees.
        assert_eq!(legacy::round_half_even(v), v.round_ties_even(), "{v}");
    }
}

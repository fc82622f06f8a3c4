//! Codebook formats: IQ4_NL and IQ4_XS (a non-linear 4-bit grid) and MXFP4 (E2M1 values with
//! an E8M0 power-of-two scale).

use super::blocks::*;

pub fn codebook_values(qs: &[u8; 16], table: &[i8; 16]) -> [i8; QK] {
    let mut v = [0i8; QK];
    for j in 0..QK / 2 {
        v[j] = table[(qs[j] & 0xF) as usize];
        v[j + QK / 2] = table[(qs[j] >> 4) as usize];
    }
    v
}

fn idot(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

pub fn dequant_iq4nl(b: &[BlockIq4Nl], out: &mut [f32]) {
    for (b, o) in b.iter().zip(out.chunks_exact_mut(QK)) {
        let d = b.d.to_f32();
        for (o, q) in o.iter_mut().zip(codebook_values(&b.qs, &KVALUES_IQ4NL)) {
            *o = d * q as f32;
        }
    }
}

pub fn dot_iq4nl(w: &[BlockIq4Nl], x: &[BlockQ8_0]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, x)| idot(&codebook_values(&w.qs, &KVALUES_IQ4NL), &x.qs) as f32 * (w.d.to_f32() * x.d.to_f32()))
        .sum()
}

/// Sub-block `ib`'s 6-bit scale (minus 32) of an IQ4_XS block.
pub fn iq4xs_scale(b: &BlockIq4Xs, ib: usize) -> i32 {
    let h = u16::from_le_bytes(b.scales_h);
    let ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) as i32 | ((((h >> (2 * ib)) & 3) as i32) << 4);
    ls - 32
}

pub fn iq4xs_sub(b: &BlockIq4Xs, ib: usize) -> [i8; QK] {
    let mut qs = [0u8; 16];
    qs.copy_from_slice(&b.qs[16 * ib..16 * ib + 16]);
    codebook_values(&qs, &KVALUES_IQ4NL)
}

pub fn dequant_iq4xs(b: &[BlockIq4Xs], out: &mut [f32]) {
    for (b, o) in b.iter().zip(out.chunks_exact_mut(QK_K)) {
        let d = b.d.to_f32();
        for ib in 0..QK_K / QK {
            let dl = d * iq4xs_scale(b, ib) as f32;
            for (o, q) in o[QK * ib..QK * ib + QK].iter_mut().zip(iq4xs_sub(b, ib)) {
                *o = dl * q as f32;
            }
        }
    }
}

pub fn dot_iq4xs(w: &[BlockIq4Xs], x: &[BlockQ8K]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, x)| {
            let sum: i32 = (0..QK_K / QK)
                .map(|ib| iq4xs_scale(w, ib) * idot(&iq4xs_sub(w, ib), &x.qs[QK * ib..QK * ib + QK]))
                .sum();
            w.d.to_f32() * x.scale() * sum as f32
        })
        .sum()
}

pub fn dequant_mxfp4(b: &[BlockMxfp4], out: &mut [f32]) {
    for (b, o) in b.iter().zip(out.chunks_exact_mut(QK)) {
        let d = e8m0_to_f32_half(b.e);
        for (o, q) in o.iter_mut().zip(codebook_values(&b.qs, &KVALUES_MXFP4)) {
            *o = q as f32 * d;
        }
    }
}

pub fn dot_mxfp4(w: &[BlockMxfp4], x: &[BlockQ8_0]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, x)| {
            let d = e8m0_to_f32_half(w.e) * x.d.to_f32();
            d * idot(&codebook_values(&w.qs, &KVALUES_MXFP4), &x.qs) as f32
        })
        .sum()
}

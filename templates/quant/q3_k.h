#define QK 256
struct block_q3_k { unsigned char hmask[32]; unsigned char qs[64]; unsigned char scales[12]; half d; };
// 3-bit weights (2 low bits in qs, the high bit in hmask, set meaning "no -4") in 16 groups of
// 16 with 6-bit signed scales packed into 12 bytes. Sub-block s (32 weights) takes bits
// 2 (s % 4).. of qs[32 (s / 4) + l], bit s of hmask[l] and scales 2s + l / 16, for l < 32. The
// blocks are regrouped on the device (quant.hip.j2): quants, high bits, scales, d, so that the
// quants and high bits are 16-byte aligned (ggml's 110-byte blocks are 2-byte aligned).
RF_DEVICE int q3_k_scale(const unsigned char* s, int i) {
  // scales i < 8: low 4 bits from s[i % 8] (low or high nibble), high 2 bits from s[8 + i % 4].
  const int lo = i < 8 ? (s[i] & 0xF) : (s[i - 8] >> 4);
  const int hi = (s[8 + (i % 4)] >> (2 * (i / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}
RF_DEVICE void dequant32_at(const block_q3_k* w, long long j, long long n, int sub, float* v) {
  // The quants and high bits by 16-byte reads (see q4_k.h's dequant32_at).
  const rf_u4* q = (const rf_u4*)(group_field(w, j, n, qs) + 32 * (sub / 4));
  const rf_u4* h = (const rf_u4*)group_field(w, j, n, hmask);
  const rf_u4 q0 = q[0], q1 = q[1], h0 = h[0], h1 = h[1];
  const unsigned char* scales = group_field(w, j, n, scales);
  const float d = (float)*(const half*)group_field(w, j, n, d);
  const int shift = 2 * (sub % 4);
#pragma unroll
  for (int g = 0; g < 2; ++g) {
    const float dl = d * (float)q3_k_scale(scales, 2 * sub + g);
#pragma unroll
    for (int l = 0; l < 16; ++l) {
      const int k = 16 * g + l;
      const int q3 = ((rf_byte(q0, q1, k) >> shift) & 3) | (((rf_byte(h0, h1, k) >> sub) & 1) << 2);
      v[k] = dl * (float)(q3 - 4);
    }
  }
}

// Mat-vec: item p (of 4) is columns l = 16i .. 16i + 15 (i = p % 2) of the four sub-blocks
// s = 4 hf .. 4 hf + 3 (hf = p / 2): the quant chunk at 32 hf + 16 i and the high-bit chunk at
// 16 i (each byte of the block read once; both 16-byte aligned), the 12 scale bytes and d. An
// item holds 12 registers, as Q4_K's three 16-byte loads do, and is counted as they are.
#define MV_ITEMS 4
#define MV_LOADS 3
struct mv_item {
  rf_u4 q, h;
  unsigned sc[3];
  unsigned short d;
};
RF_DEVICE mv_item mv_load_at(const block_q3_k* w, long long j, long long n, int p) {
  const int hf = p / 2, i = p % 2;
  const unsigned* sc = (const unsigned*)group_field(w, j, n, scales);  // 4-byte aligned
  return {*(const rf_u4*)(group_field(w, j, n, qs) + 32 * hf + 16 * i),
          *(const rf_u4*)(group_field(w, j, n, hmask) + 16 * i),
          {sc[0], sc[1], sc[2]},
          *(const unsigned short*)group_field(w, j, n, d)};
}
// Scale 8 hf + 2k + i (q3_k_scale) from the scale words: its low 4 bits are nibble hf of byte
// 2k + i, its high 2 bits bits 2 (2 hf + k / 2).. of byte 8 + (2k + i) % 4.
RF_DEVICE int q3_k_item_scale(const unsigned (&sc)[3], int hf, int i, int k) {
  const int byte = 8 * (2 * (k % 2) + i);
  const int lo = (sc[k / 2] >> (byte + 4 * hf)) & 0xF;
  const int hi = (sc[2] >> (byte + 2 * (2 * hf + k / 2))) & 3;
  return (lo | (hi << 4)) - 32;
}
// d · Σ_k dx_k · sc_k · Σ (v - 4) q over the item's four sub-blocks k, v being the 2 low bits +
// 4 · the high bit, whose activations are half i of unit u + 4 hf + k.
RF_DEVICE float mv_dot(const mv_item& it, int p, const xq_smem& xs, int u) {
  const int hf = p / 2, i = p % 2;
  const int uk = u + 4 * hf;
  const rf_u4 x[4] = {xq_quants(xs, uk, i), xq_quants(xs, uk + 1, i), xq_quants(xs, uk + 2, i),
                      xq_quants(xs, uk + 3, i)};
  int dot[4] = {0, 0, 0, 0};
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    const unsigned q = it.q[w], h = it.h[w] >> (4 * hf);
#pragma unroll
    for (int k = 0; k < 4; ++k) dot[k] = rf_dot4(((q >> (2 * k)) & 0x03030303) | (((h >> k) & 0x01010101) << 2), x[k][w], dot[k]);
  }
  float f = 0.0f;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const rf_u4 m = xq_meta(xs, uk + k);
    f += xq_d(m) * (float)(q3_k_item_scale(it.sc, hf, i, k) * (dot[k] - 4 * xq_half_sum(m, i)));
  }
  return rf_half_lo(it.d) * f;
}

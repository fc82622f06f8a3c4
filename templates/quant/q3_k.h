#define QK 256
struct block_q3_k { unsigned char hmask[32]; unsigned char qs[64]; unsigned char scales[12]; half d; };
// 3-bit weights (2 low bits in qs, the high bit in hmask, set meaning "no -4") in 16 groups of
// 16 with 6-bit signed scales packed into 12 bytes.
RF_DEVICE int q3_k_scale(const unsigned char* s, int i) {
  // scales i < 8: low 4 bits from s[i % 8] (low or high nibble), high 2 bits from s[8 + i % 4].
  const int lo = i < 8 ? (s[i] & 0xF) : (s[i - 8] >> 4);
  const int hi = (s[8 + (i % 4)] >> (2 * (i / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}
RF_DEVICE void dequant32(const block_q3_k* b, int sub, float* v) {
  const float d = (float)b->d;
  const unsigned char* q = b->qs + 32 * (sub / 4);
  const int shift = 2 * (sub % 4);
  const unsigned char m = (unsigned char)(1u << sub);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const float dl = d * (float)q3_k_scale(b->scales, 2 * sub + h);
#pragma unroll
    for (int l = 0; l < 16; ++l) {
      const int k = 16 * h + l;
      v[k] = dl * (float)(((q[k] >> shift) & 3) - ((b->hmask[k] & m) ? 0 : 4));
    }
  }
}

// Mat-vec: an item per 32 weights (sub-block `sub`): the 32 hmask bytes and its 32 quant bytes
// (2-byte aligned) from 48-byte windows, and the scales and d from a 32-byte one.
#define MV_ITEMS 8
#define MV_LOADS 8
struct mv_item {
  window<32, 2> h, q;
  window<14, 2> t;
};
RF_DEVICE mv_item mv_load(const block_q3_k* b, int sub) {
  return {load_window<32, 2>(b->hmask), load_window<32, 2>(b->qs + 32 * (sub / 4)), load_window<14, 2>(b->scales)};
}
// Byte k (runtime) of the first 12 bytes in w.
RF_DEVICE int q3_k_byte(const unsigned (&w)[4], int k) {
  const unsigned word = rf_pick(k < 4, w[0], rf_pick(k < 8, w[1], w[2]));
  return (int)((word >> (8 * (k % 4))) & 0xFF);
}
// q3_k_scale from registers.
RF_DEVICE int q3_k_scale_w(const unsigned (&w)[4], int i) {
  const int lo = i < 8 ? (q3_k_byte(w, i) & 0xF) : (q3_k_byte(w, i - 8) >> 4);
  const int hi = (q3_k_byte(w, 8 + (i % 4)) >> (2 * (i / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}
// Per group g of 16: d · sc_g · dx · Σ (v - 4) q with v = the 2 low bits + 4 · the hmask bit.
RF_DEVICE float mv_dot(const mv_item& it, int sub, const xq_smem& xs, int u) {
  unsigned h[8], q[8], t[4];
  window_words(it.h, h);
  window_words(it.q, q);
  window_words(it.t, t);
  u += sub;
  const int shift = 2 * (sub % 4);
  const rf_u4 xl = xq_quants(xs, u, 0), xh = xq_quants(xs, u, 1), xm = xq_meta(xs, u);
  int s0 = 0, s1 = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    s0 = rf_dot4(((q[j] >> shift) & 0x03030303) | (((h[j] >> sub) & 0x01010101) << 2), xl[j], s0);
    s1 = rf_dot4(((q[j + 4] >> shift) & 0x03030303) | (((h[j + 4] >> sub) & 0x01010101) << 2), xh[j], s1);
  }
  const int dot = q3_k_scale_w(t, 2 * sub) * (s0 - 4 * (int)xm.z) + q3_k_scale_w(t, 2 * sub + 1) * (s1 - 4 * (int)xm.w);
  return rf_half_lo(t[3]) * xq_d(xm) * (float)dot;
}

#define QK 32
struct block_q4_0 { half d; unsigned char qs[16]; };
// w = d * (nibble - 8); low nibbles are weights 0..15, high nibbles 16..31.
RF_DEVICE void dequant32(const block_q4_0* b, int sub, float* v) {
  const float d = (float)b->d;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    v[j] = d * (float)((b->qs[j] & 0xF) - 8);
    v[j + 16] = d * (float)((b->qs[j] >> 4) - 8);
  }
}

// Mat-vec: a block per item, its 18 bytes (2-byte aligned) from a 32-byte window.
#define MV_ITEMS 1
#define MV_LOADS 2
struct mv_item { window<18, 2> w; };
RF_DEVICE mv_item mv_load(const block_q4_0* b, int) { return {load_window<18, 2>(b)}; }
// d · dx · Σ (n - 8) q: the nibbles' dot with the quants, less 8 times the quants' sum.
RF_DEVICE float mv_dot(const mv_item& it, int, const xq_smem& xs, int u) {
  unsigned o[5];
  window_words(it.w, o);
  const rf_u4 xl = xq_quants(xs, u, 0), xh = xq_quants(xs, u, 1), xm = xq_meta(xs, u);
  int sumi = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const unsigned q = rf_skip2(o[j + 1], o[j]);
    sumi = rf_dot4(q & 0x0F0F0F0F, xl[j], sumi);
    sumi = rf_dot4((q >> 4) & 0x0F0F0F0F, xh[j], sumi);
  }
  return rf_half_lo(o[0]) * xq_d(xm) * (float)(sumi - 8 * (int)xm.y);
}

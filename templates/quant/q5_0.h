#define QK 32
struct block_q5_0 { half d; unsigned char qh[4]; unsigned char qs[16]; };
// w = d * (5-bit value - 16); bit j of qh is weight j's fifth bit.
RF_DEVICE void dequant32(const block_q5_0* b, int sub, float* v) {
  const float d = (float)b->d;
  const unsigned qh = b->qh[0] | (b->qh[1] << 8) | (b->qh[2] << 16) | ((unsigned)b->qh[3] << 24);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int lo = (b->qs[j] & 0xF) | (((qh >> j) << 4) & 0x10);
    const int hi = (b->qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
    v[j] = d * (float)(lo - 16);
    v[j + 16] = d * (float)(hi - 16);
  }
}

// Mat-vec: a block per item, its 22 bytes (2-byte aligned) from a 48-byte window.
{% include "quant/q5_common.h" %}
#define MV_ITEMS 1
#define MV_LOADS 3
struct mv_item { window<22, 2> w; };
RF_DEVICE mv_item mv_load(const block_q5_0* b, int) { return {load_window<22, 2>(b)}; }
// d · dx · Σ (v - 16) q.
RF_DEVICE float mv_dot(const mv_item& it, int, const xq_smem& xs, int u) {
  unsigned o[6];
  window_words(it.w, o);
  const unsigned qs[4] = {rf_skip2(o[2], o[1]), rf_skip2(o[3], o[2]), rf_skip2(o[4], o[3]), rf_skip2(o[5], o[4])};
  const int sumi = q5_dot(rf_skip2(o[1], o[0]), qs, xq_quants(xs, u, 0), xq_quants(xs, u, 1));
  const rf_u4 xm = xq_meta(xs, u);
  return rf_half_lo(o[0]) * xq_d(xm) * (float)(sumi - 16 * (int)xm.y);
}

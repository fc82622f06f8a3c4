#define QK 32
struct block_q5_1 { half d; half m; unsigned char qh[4]; unsigned char qs[16]; };
// w = d * 5-bit value + m; bit j of qh is weight j's fifth bit.
RF_DEVICE void dequant32(const block_q5_1* b, int sub, float* v) {
  const float d = (float)b->d, m = (float)b->m;
  const unsigned qh = b->qh[0] | (b->qh[1] << 8) | (b->qh[2] << 16) | ((unsigned)b->qh[3] << 24);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int lo = (b->qs[j] & 0xF) | (((qh >> j) << 4) & 0x10);
    const int hi = (b->qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
    v[j] = d * (float)lo + m;
    v[j + 16] = d * (float)hi + m;
  }
}

// Mat-vec: a block per item, its 24 bytes (8-byte aligned) from a 32-byte window.
{% include "quant/q5_common.h" %}
#define MV_ITEMS 1
#define MV_LOADS 2
struct mv_item { window<24, 8> w; };
RF_DEVICE mv_item mv_load(const block_q5_1* b, int) { return {load_window<24, 8>(b)}; }
// d · dx · Σ v q + m · dx · Σ q.
RF_DEVICE float mv_dot(const mv_item& it, int, const xq_smem& xs, int u) {
  unsigned o[6];
  window_words(it.w, o);
  const unsigned qs[4] = {o[2], o[3], o[4], o[5]};
  const int sumi = q5_dot(o[1], qs, xq_quants(xs, u, 0), xq_quants(xs, u, 1));
  const rf_u4 xm = xq_meta(xs, u);
  const float dx = xq_d(xm);
  return rf_half_lo(o[0]) * dx * (float)sumi + rf_half_hi(o[0]) * dx * (float)(int)xm.y;
}

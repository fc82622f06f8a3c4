#define QK 32
struct block_q8_0 { half d; signed char qs[32]; };
// w = d * q.
RF_DEVICE void dequant32(const block_q8_0* b, int sub, float* v) {
  const float d = (float)b->d;
#pragma unroll
  for (int j = 0; j < 32; ++j) v[j] = d * (float)b->qs[j];
}

// Mat-vec: a block per item, its 34 bytes (2-byte aligned) from a 48-byte window.
#define MV_ITEMS 1
#define MV_LOADS 3
struct mv_item { window<34, 2> w; };
RF_DEVICE mv_item mv_load(const block_q8_0* b, int) { return {load_window<34, 2>(b)}; }
RF_DEVICE float mv_dot(const mv_item& it, int, const xq_smem& xs, int u) {
  unsigned o[9];
  window_words(it.w, o);
  const rf_u4 xl = xq_quants(xs, u, 0), xh = xq_quants(xs, u, 1), xm = xq_meta(xs, u);
  int sumi = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    sumi = rf_dot4(rf_skip2(o[j + 1], o[j]), xl[j], sumi);
    sumi = rf_dot4(rf_skip2(o[j + 5], o[j + 4]), xh[j], sumi);
  }
  return rf_half_lo(o[0]) * xq_d(xm) * (float)sumi;
}

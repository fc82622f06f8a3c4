#define QK 32
struct block_q4_1 { half d; half m; unsigned char qs[16]; };
// w = d * nibble + m; low nibbles are weights 0..15, high nibbles 16..31.
RF_DEVICE void dequant32(const block_q4_1* b, int sub, float* v) {
  const float d = (float)b->d, m = (float)b->m;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    v[j] = d * (float)(b->qs[j] & 0xF) + m;
    v[j + 16] = d * (float)(b->qs[j] >> 4) + m;
  }
}

// Mat-vec: a block per item, its 20 bytes (4-byte aligned) from a 32-byte window.
#define MV_ITEMS 1
#define MV_LOADS 2
struct mv_item { window<20, 4> w; };
RF_DEVICE mv_item mv_load(const block_q4_1* b, int) { return {load_window<20, 4>(b)}; }
// d · dx · Σ n q + m · dx · Σ q.
RF_DEVICE float mv_dot(const mv_item& it, int, const xq_smem& xs, int u) {
  unsigned o[5];
  window_words(it.w, o);
  const rf_u4 xl = xq_quants(xs, u, 0), xh = xq_quants(xs, u, 1), xm = xq_meta(xs, u);
  int sumi = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    sumi = rf_dot4(o[j + 1] & 0x0F0F0F0F, xl[j], sumi);
    sumi = rf_dot4((o[j + 1] >> 4) & 0x0F0F0F0F, xh[j], sumi);
  }
  const float dx = xq_d(xm);
  return rf_half_lo(o[0]) * dx * (float)sumi + rf_half_hi(o[0]) * dx * (float)(int)xm.y;
}

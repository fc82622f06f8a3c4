#define QK 256
struct block_q4_k { half d; half dmin; unsigned char scales[12]; unsigned char qs[128]; };
{% include "quant/k4_scale_min.h" %}
// 4-bit weights in 8 groups of 32; group `sub` is the low (even) or high (odd) nibbles of
// qs[32*(sub/2) .. +32].
RF_DEVICE void dequant32(const block_q4_k* b, int sub, float* v) {
  int sc, m;
  k4_scale_min(sub, b->scales, &sc, &m);
  const float dl = (float)b->d * (float)sc, ml = (float)b->dmin * (float)m;
  const unsigned char* q = b->qs + 32 * (sub / 2);
  const int shift = 4 * (sub % 2);
#pragma unroll
  for (int l = 0; l < 32; ++l) v[l] = dl * (float)((q[l] >> shift) & 0xF) - ml;
}

// Mat-vec: item p (of 4) is the block's first 16 bytes and qs chunks p and p+4, all 16-byte
// aligned (a block is 144 bytes; the weights must be 16-byte aligned).
#define MV_ITEMS 4
#define MV_LOADS 3
struct mv_item { rf_u4 h, c0, c1; };
RF_DEVICE mv_item mv_load(const block_q4_k* b, int p) {
  const rf_u4* q = (const rf_u4*)b->qs;
  return {*(const rf_u4*)b, q[p], q[p + 4]};
}
RF_DEVICE float mv_dot(const mv_item& it, int p, const xq_smem& xs, int u) {
  const int j = p / 2, half = p % 2;
  const rf_u4 x0 = xq_quants(xs, u + 2 * j, half), x1 = xq_quants(xs, u + 2 * j + 1, half);
  const rf_u4 x4 = xq_quants(xs, u + 2 * j + 4, half), x5 = xq_quants(xs, u + 2 * j + 5, half);
  int dot[4] = {0, 0, 0, 0};
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    dot[0] = rf_dot4(it.c0[w] & 0x0F0F0F0F, x0[w], dot[0]);
    dot[1] = rf_dot4((it.c0[w] >> 4) & 0x0F0F0F0F, x1[w], dot[1]);
    dot[2] = rf_dot4(it.c1[w] & 0x0F0F0F0F, x4[w], dot[2]);
    dot[3] = rf_dot4((it.c1[w] >> 4) & 0x0F0F0F0F, x5[w], dot[3]);
  }
  return k4_item_sum(it.h, p, dot, xs, u);
}

#define QK 256
struct block_q5_k { half d; half dmin; unsigned char scales[12]; unsigned char qh[32]; unsigned char qs[128]; };
{% include "quant/k4_scale_min.h" %}
// 5-bit weights in 8 groups of 32: the low 4 bits as in q4_k, the fifth is bit `sub` of qh[l].
RF_DEVICE void dequant32(const block_q5_k* b, int sub, float* v) {
  int sc, m;
  k4_scale_min(sub, b->scales, &sc, &m);
  const float dl = (float)b->d * (float)sc, ml = (float)b->dmin * (float)m;
  const unsigned char* q = b->qs + 32 * (sub / 2);
  const int shift = 4 * (sub % 2);
#pragma unroll
  for (int l = 0; l < 32; ++l) {
    const int hi = (b->qh[l] >> sub) & 1;
    v[l] = dl * (float)(((q[l] >> shift) & 0xF) | (hi << 4)) - ml;
  }
}

// Mat-vec: item p (of 4) is the block's first 16 bytes, the qh chunk of its 16 columns and qs
// chunks p and p+4, all 16-byte aligned (a block is 176 bytes; the weights must be 16-byte
// aligned). The fifth bit of group g's weight l is bit g of qh[l].
#define MV_ITEMS 4
#define MV_LOADS 4
struct mv_item { rf_u4 h, qh, c0, c1; };
RF_DEVICE mv_item mv_load(const block_q5_k* b, int p) {
  const rf_u4* q = (const rf_u4*)b->qs;
  return {*(const rf_u4*)b, ((const rf_u4*)b->qh)[p % 2], q[p], q[p + 4]};
}
RF_DEVICE float mv_dot(const mv_item& it, int p, const xq_smem& xs, int u) {
  const int j = p / 2, half = p % 2;
  const rf_u4 x0 = xq_quants(xs, u + 2 * j, half), x1 = xq_quants(xs, u + 2 * j + 1, half);
  const rf_u4 x4 = xq_quants(xs, u + 2 * j + 4, half), x5 = xq_quants(xs, u + 2 * j + 5, half);
  int dot[4] = {0, 0, 0, 0};
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    const unsigned qh = it.qh[w] >> (2 * j);
    dot[0] = rf_dot4((it.c0[w] & 0x0F0F0F0F) | ((qh << 4) & 0x10101010), x0[w], dot[0]);
    dot[1] = rf_dot4(((it.c0[w] >> 4) & 0x0F0F0F0F) | ((qh << 3) & 0x10101010), x1[w], dot[1]);
    dot[2] = rf_dot4((it.c1[w] & 0x0F0F0F0F) | (qh & 0x10101010), x4[w], dot[2]);
    dot[3] = rf_dot4(((it.c1[w] >> 4) & 0x0F0F0F0F) | ((qh >> 1) & 0x10101010), x5[w], dot[3]);
  }
  return k4_item_sum(it.h, p, dot, xs, u);
}

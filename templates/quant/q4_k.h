#define QK 256
struct block_q4_k { half d; half dmin; unsigned char scales[12]; unsigned char qs[128]; };
{% include "quant/k4_scale_min.h" %}
// 4-bit weights in 8 groups of 32; group `sub` is the low (even) or high (odd) nibbles of
// qs[32*(sub/2) .. +32]. The blocks are regrouped on the device (quant.hip.j2): a group's quants
// come first, then its blocks' 16-byte heads (d, dmin, scales), so that a wave's loads of
// either are contiguous.
RF_DEVICE void dequant32_at(const block_q4_k* w, long long j, long long n, int sub, float* v) {
  const unsigned char* head = group_field(w, j, n, head);
  int sc, m;
  k4_scale_min(sub, head + 4, &sc, &m);
  const float dl = (float)*(const half*)head * (float)sc, ml = (float)*(const half*)(head + 2) * (float)m;
  // The quants by two 16-byte reads: read byte by byte, lanes 128 bytes apart (a group's
  // neighbouring blocks) would meet in one shared-memory bank in dequant.
  const rf_u4* q = (const rf_u4*)(group_field(w, j, n, qs) + 32 * (sub / 2));
  const rf_u4 q0 = q[0], q1 = q[1];
  const int shift = 4 * (sub % 2);
#pragma unroll
  for (int l = 0; l < 32; ++l) v[l] = dl * (float)((rf_byte(q0, q1, l) >> shift) & 0xF) - ml;
}

// Mat-vec: item p (of 4) is the block's head and qs chunks p and p+4, three aligned 16-byte loads.
#define MV_ITEMS 4
#define MV_LOADS 3
struct mv_item { rf_u4 h, c0, c1; };
RF_DEVICE mv_item mv_load_at(const block_q4_k* w, long long j, long long n, int p) {
  const rf_u4* q = (const rf_u4*)group_field(w, j, n, qs);
  return {*(const rf_u4*)group_field(w, j, n, head), q[p], q[p + 4]};
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

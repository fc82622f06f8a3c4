#define QK 32
struct block_q5_0 { half d; unsigned char qh[4]; unsigned char qs[16]; };
// w = d * (5-bit value - 16); bit i of qh is weight i's fifth bit. The blocks are regrouped on
// the device (quant.hip.j2): block j's quants, fifth bits and d are apart.
RF_DEVICE void dequant32_at(const block_q5_0* w, long long j, long long n, int, float* v) {
  const rf_u4 q = *(const rf_u4*)group_field(w, j, n, qs);
  const unsigned qh = *(const unsigned*)group_field(w, j, n, qh);
  const float d = (float)*(const half*)group_field(w, j, n, d);
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const unsigned b = q[i / 4] >> (8 * (i % 4));
    const int lo = (b & 0xF) | (((qh >> i) << 4) & 0x10);
    const int hi = ((b >> 4) & 0xF) | ((qh >> (i + 12)) & 0x10);
    v[i] = d * (float)(lo - 16);
    v[i + 16] = d * (float)(hi - 16);
  }
}

// Mat-vec: a block per item, its quants by one aligned 16-byte load, its fifth bits and d by a
// 4- and a 2-byte one.
{% include "quant/q5_common.h" %}
#define MV_ITEMS 1
#define MV_LOADS 3
struct mv_item { rf_u4 qs; unsigned qh; unsigned short d; };
RF_DEVICE mv_item mv_load_at(const block_q5_0* w, long long j, long long n, int) {
  return {*(const rf_u4*)group_field(w, j, n, qs), *(const unsigned*)group_field(w, j, n, qh),
          *(const unsigned short*)group_field(w, j, n, d)};
}
// d · dx · Σ (v - 16) q.
RF_DEVICE float mv_dot(const mv_item& it, int, const xq_smem& xs, int u) {
  const unsigned qs[4] = {it.qs[0], it.qs[1], it.qs[2], it.qs[3]};
  const int sumi = q5_dot(it.qh, qs, xq_quants(xs, u, 0), xq_quants(xs, u, 1));
  const rf_u4 xm = xq_meta(xs, u);
  return rf_half_lo(it.d) * xq_d(xm) * (float)(sumi - 16 * (int)xm.y);
}

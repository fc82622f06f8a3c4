#define QK 32
struct block_q8_0 { half d; signed char qs[32]; };
// w = d * q. The blocks are regrouped on the device (quant.hip.j2): block j's 32 quants and its
// d are apart.
RF_DEVICE void dequant32_at(const block_q8_0* w, long long j, long long n, int, float* v) {
  const rf_u4* q = (const rf_u4*)group_field(w, j, n, qs);
  const rf_u4 lo = q[0], hi = q[1];
  const float d = (float)*(const half*)group_field(w, j, n, d);
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    v[i] = d * (float)(signed char)(lo[i / 4] >> (8 * (i % 4)));
    v[i + 16] = d * (float)(signed char)(hi[i / 4] >> (8 * (i % 4)));
  }
}

// Mat-vec: a block per item, its quants by two aligned 16-byte loads and its d by a 2-byte one.
#define MV_ITEMS 1
#define MV_LOADS 3
struct mv_item { rf_u4 lo, hi; unsigned short d; };
RF_DEVICE mv_item mv_load_at(const block_q8_0* w, long long j, long long n, int) {
  const rf_u4* q = (const rf_u4*)group_field(w, j, n, qs);
  return {q[0], q[1], *(const unsigned short*)group_field(w, j, n, d)};
}
RF_DEVICE float mv_dot(const mv_item& it, int, const xq_smem& xs, int u) {
  const rf_u4 xl = xq_quants(xs, u, 0), xh = xq_quants(xs, u, 1), xm = xq_meta(xs, u);
  int sumi = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    sumi = rf_dot4(it.lo[j], xl[j], sumi);
    sumi = rf_dot4(it.hi[j], xh[j], sumi);
  }
  return rf_half_lo(it.d) * xq_d(xm) * (float)sumi;
}

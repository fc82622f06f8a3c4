#define QK 32
struct block_q4_1 { half d; half m; unsigned char qs[16]; };
// w = d * nibble + m; low nibbles are weights 0..15, high nibbles 16..31. The blocks are
// regrouped on the device (quant.hip.j2): block j's 16 quant bytes and its d, m are apart.
RF_DEVICE void dequant32_at(const block_q4_1* w, long long j, long long n, int, float* v) {
  const rf_u4 q = *(const rf_u4*)group_field(w, j, n, qs);
  const unsigned dm = *(const unsigned*)group_field(w, j, n, dm);
  const float d = rf_half_lo(dm), m = rf_half_hi(dm);
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const unsigned b = q[i / 4] >> (8 * (i % 4));
    v[i] = d * (float)(b & 0xF) + m;
    v[i + 16] = d * (float)((b >> 4) & 0xF) + m;
  }
}

// Mat-vec: a block per item, its quants by one aligned 16-byte load and its d, m by a 4-byte one.
#define MV_ITEMS 1
#define MV_LOADS 2
struct mv_item { rf_u4 q; unsigned dm; };
RF_DEVICE mv_item mv_load_at(const block_q4_1* w, long long j, long long n, int) {
  return {*(const rf_u4*)group_field(w, j, n, qs), *(const unsigned*)group_field(w, j, n, dm)};
}
// d · dx · Σ n q + m · dx · Σ q.
RF_DEVICE float mv_dot(const mv_item& it, int, const xq_smem& xs, int u) {
  const rf_u4 xl = xq_quants(xs, u, 0), xh = xq_quants(xs, u, 1), xm = xq_meta(xs, u);
  int sumi = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    sumi = rf_dot4(it.q[j] & 0x0F0F0F0F, xl[j], sumi);
    sumi = rf_dot4((it.q[j] >> 4) & 0x0F0F0F0F, xh[j], sumi);
  }
  const float dx = xq_d(xm);
  return rf_half_lo(it.dm) * dx * (float)sumi + rf_half_hi(it.dm) * dx * (float)(int)xm.y;
}

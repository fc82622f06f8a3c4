#define QK 256
struct block_q2_k { unsigned char scales[16]; unsigned char qs[64]; half d; half dmin; };
// 2-bit weights in 16 groups of 16, each with a 4-bit scale and a 4-bit min. Piece `sub` of 32
// is 2-bit field `sub % 4` of bytes qs[32*(sub/4) .. +32], scales 2*sub and 2*sub+1.
RF_DEVICE void dequant32(const block_q2_k* b, int sub, float* v) {
  const float d = (float)b->d, dmin = (float)b->dmin;
  const unsigned char* q = b->qs + 32 * (sub / 4);
  const int shift = 2 * (sub % 4);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const unsigned char sc = b->scales[2 * sub + h];
    const float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
#pragma unroll
    for (int l = 0; l < 16; ++l) v[16 * h + l] = dl * (float)((q[16 * h + l] >> shift) & 3) - ml;
  }
}

// Mat-vec: an item per 32 weights (sub-block `sub`): its 32 quant bytes (4-byte aligned) from a
// 48-byte window, the word holding its two scale bytes, and d and dmin.
#define MV_ITEMS 8
#define MV_LOADS 4
struct mv_item {
  window<32, 4> q;
  unsigned sc, dm;
};
RF_DEVICE mv_item mv_load(const block_q2_k* b, int sub) {
  const unsigned* words = (const unsigned*)b;
  return {load_window<32, 4>(b->qs + 32 * (sub / 4)), words[sub / 2], words[20]};
}
// Per group g of 16: d · sc_g · dx · Σ v q - dmin · m_g · dx · Σ q.
RF_DEVICE float mv_dot(const mv_item& it, int sub, const xq_smem& xs, int u) {
  unsigned v[8];
  window_words(it.q, v);
  u += sub;
  const int shift = 2 * (sub % 4);
  const rf_u4 xl = xq_quants(xs, u, 0), xh = xq_quants(xs, u, 1), xm = xq_meta(xs, u);
  int s0 = 0, s1 = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    s0 = rf_dot4((v[j] >> shift) & 0x03030303, xl[j], s0);
    s1 = rf_dot4((v[j + 4] >> shift) & 0x03030303, xh[j], s1);
  }
  const unsigned sc = it.sc >> (16 * (sub % 2));
  const int dot = (int)(sc & 0xF) * s0 + (int)((sc >> 8) & 0xF) * s1;
  const int mins = (int)((sc >> 4) & 0xF) * (int)xm.z + (int)((sc >> 12) & 0xF) * (int)xm.w;
  return xq_d(xm) * (rf_half_lo(it.dm) * (float)dot - rf_half_hi(it.dm) * (float)mins);
}

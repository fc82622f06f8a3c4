#define QK 256
struct block_q6_k { unsigned char ql[128]; unsigned char qh[64]; signed char scales[16]; half d; };
// 6-bit weights (4 low bits in ql, 2 high in qh) minus 32, in 16 groups of 16 with int8 scales.
// Each half of 128 weights has four quarters: quarter k of half n takes nibble k/2 of
// ql[64n + 32(k%2) + l] and bits 2k..2k+1 of qh[32n + l].
RF_DEVICE void dequant32(const block_q6_k* b, int sub, float* v) {
  const float d = (float)b->d;
  const int n = sub / 4, k = sub % 4;
  const unsigned char* ql = b->ql + 64 * n + 32 * (k % 2);
  const unsigned char* qh = b->qh + 32 * n;
  const int lshift = 4 * (k / 2), hshift = 2 * k;
#pragma unroll
  for (int l = 0; l < 32; ++l) {
    const int q = (((ql[l] >> lshift) & 0xF) | (((qh[l] >> hshift) & 3) << 4)) - 32;
    v[l] = d * (float)b->scales[8 * n + 2 * k + l / 16] * (float)q;
  }
}

// Mat-vec: item p (of 8) is ql bytes 16p.. (columns l = 16i.. of groups k = h and h+2 in half n,
// p = 4n + 2h + i) and the qh bytes of the same columns, 2-byte aligned, from 32-byte windows,
// with its two scales and d.
#define MV_ITEMS 8
#define MV_LOADS 5
struct mv_item {
  window<16, 2> l, h;
  int sa, sb;
  unsigned short d;
};
RF_DEVICE mv_item mv_load(const block_q6_k* b, int p) {
  const int n = p / 4, h = (p / 2) % 2, i = p % 2;
  const int s = 8 * n + 2 * h + i;
  return {load_window<16, 2>(b->ql + 16 * p), load_window<16, 2>(b->qh + 32 * n + 16 * i), b->scales[s],
          b->scales[s + 4], __builtin_bit_cast(unsigned short, b->d)};
}
// d · Σ_k dx_k · sc_k · Σ (v - 32) q for the item's two groups k.
RF_DEVICE float mv_dot(const mv_item& it, int p, const xq_smem& xs, int u) {
  const int n = p / 4, h = (p / 2) % 2, i = p % 2;
  unsigned l[4], hb[4];
  window_words(it.l, l);
  window_words(it.h, hb);
  const int ua = u + 4 * n + h, ub = ua + 2;
  const rf_u4 xa = xq_quants(xs, ua, i), xb = xq_quants(xs, ub, i);
  int sa = 0, sb = 0;
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    const unsigned hi = hb[w] >> (2 * h);
    sa = rf_dot4((l[w] & 0x0F0F0F0F) | ((hi << 4) & 0x30303030), xa[w], sa);
    sb = rf_dot4(((l[w] >> 4) & 0x0F0F0F0F) | (hi & 0x30303030), xb[w], sb);
  }
  const rf_u4 ma = xq_meta(xs, ua), mb = xq_meta(xs, ub);
  const int qa = sa - 32 * xq_half_sum(ma, i), qb = sb - 32 * xq_half_sum(mb, i);
  return rf_half_lo(it.d) * (xq_d(ma) * (float)(it.sa * qa) + xq_d(mb) * (float)(it.sb * qb));
}

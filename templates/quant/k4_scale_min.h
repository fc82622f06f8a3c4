// Scale and min of group j (of 8) in Q4_K and Q5_K: 6 bits each, packed into 12 bytes
// (ggml's get_scale_min_k4).
RF_DEVICE void k4_scale_min(int j, const unsigned char* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// The mat-vec's Q4_K/Q5_K item p (of 4) covers 16 columns of the groups 2j, 2j+1 (low and high
// nibbles of qs chunk p) and 2j+4, 2j+5 (chunk p+4), j = p/2. Their scales and mins from the
// block's first 16 bytes h, as bytes 0-1 of sc_lo (groups 2j, 2j+1), sc_hi (2j+4, 2j+5), m_lo, m_hi.
struct k4_scales { unsigned sc_lo, sc_hi, m_lo, m_hi; };
RF_DEVICE k4_scales k4_item_scales(const rf_u4& h, int p) {
  const int shift = 16 * (p / 2);
  const unsigned a = h.y >> shift, b = h.z >> shift, c = h.w >> shift;
  return {a & 0x3F3F, (c & 0x0F0F) | ((a >> 2) & 0x3030), b & 0x3F3F, ((c >> 4) & 0x0F0F) | ((b >> 2) & 0x3030)};
}

// d · Σ_g dx_g · sc_g · Σ v q - dmin · Σ_g dx_g · m_g · Σ q over the item's four groups, given
// their integer dots (groups 2j, 2j+1, 2j+4, 2j+5) and the quants of columns 16·(p%2) onward.
RF_DEVICE float k4_item_sum(const rf_u4& h, int p, const int (&dot)[4], const xq_smem& xs, int u) {
  const k4_scales k = k4_item_scales(h, p);
  const int j = p / 2, half = p % 2;
  const int g[4] = {2 * j, 2 * j + 1, 2 * j + 4, 2 * j + 5};
  const unsigned sc[4] = {k.sc_lo, k.sc_lo >> 8, k.sc_hi, k.sc_hi >> 8};
  const unsigned m[4] = {k.m_lo, k.m_lo >> 8, k.m_hi, k.m_hi >> 8};
  float fd = 0.0f, fm = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const rf_u4 xm = xq_meta(xs, u + g[i]);
    const float dx = xq_d(xm);
    fd += dx * (float)((int)(sc[i] & 0xFF) * dot[i]);
    fm += dx * (float)((int)(m[i] & 0xFF) * xq_half_sum(xm, half));
  }
  return rf_half_lo(h.x) * fd - rf_half_hi(h.x) * fm;
}

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

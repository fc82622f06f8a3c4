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

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

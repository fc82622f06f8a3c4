#define QK 32
struct block_q5_1 { half d; half m; unsigned char qh[4]; unsigned char qs[16]; };
// w = d * 5-bit value + m; bit j of qh is weight j's fifth bit.
RF_DEVICE void dequant32(const block_q5_1* b, int sub, float* v) {
  const float d = (float)b->d, m = (float)b->m;
  const unsigned qh = b->qh[0] | (b->qh[1] << 8) | (b->qh[2] << 16) | ((unsigned)b->qh[3] << 24);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int lo = (b->qs[j] & 0xF) | (((qh >> j) << 4) & 0x10);
    const int hi = (b->qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
    v[j] = d * (float)lo + m;
    v[j + 16] = d * (float)hi + m;
  }
}

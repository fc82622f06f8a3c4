#define QK 256
struct block_q3_k { unsigned char hmask[32]; unsigned char qs[64]; unsigned char scales[12]; half d; };
// 3-bit weights (2 low bits in qs, the high bit in hmask, set meaning "no -4") in 16 groups of
// 16 with 6-bit signed scales packed into 12 bytes.
RF_DEVICE int q3_k_scale(const unsigned char* s, int i) {
  // scales i < 8: low 4 bits from s[i % 8] (low or high nibble), high 2 bits from s[8 + i % 4].
  const int lo = i < 8 ? (s[i] & 0xF) : (s[i - 8] >> 4);
  const int hi = (s[8 + (i % 4)] >> (2 * (i / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}
RF_DEVICE void dequant32(const block_q3_k* b, int sub, float* v) {
  const float d = (float)b->d;
  const unsigned char* q = b->qs + 32 * (sub / 4);
  const int shift = 2 * (sub % 4);
  const unsigned char m = (unsigned char)(1u << sub);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const float dl = d * (float)q3_k_scale(b->scales, 2 * sub + h);
#pragma unroll
    for (int l = 0; l < 16; ++l) {
      const int k = 16 * h + l;
      v[k] = dl * (float)(((q[k] >> shift) & 3) - ((b->hmask[k] & m) ? 0 : 4));
    }
  }
}

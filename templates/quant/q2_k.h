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

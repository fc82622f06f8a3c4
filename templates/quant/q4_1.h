#define QK 32
struct block_q4_1 { half d; half m; unsigned char qs[16]; };
// w = d * nibble + m; low nibbles are weights 0..15, high nibbles 16..31.
RF_DEVICE void dequant32(const block_q4_1* b, int sub, float* v) {
  const float d = (float)b->d, m = (float)b->m;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    v[j] = d * (float)(b->qs[j] & 0xF) + m;
    v[j + 16] = d * (float)(b->qs[j] >> 4) + m;
  }
}

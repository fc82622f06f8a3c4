#define QK 32
struct block_q4_0 { half d; unsigned char qs[16]; };
// w = d * (nibble - 8); low nibbles are weights 0..15, high nibbles 16..31.
RF_DEVICE void dequant32(const block_q4_0* b, int sub, float* v) {
  const float d = (float)b->d;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    v[j] = d * (float)((b->qs[j] & 0xF) - 8);
    v[j + 16] = d * (float)((b->qs[j] >> 4) - 8);
  }
}

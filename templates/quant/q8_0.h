#define QK 32
struct block_q8_0 { half d; signed char qs[32]; };
// w = d * q.
RF_DEVICE void dequant32(const block_q8_0* b, int sub, float* v) {
  const float d = (float)b->d;
#pragma unroll
  for (int j = 0; j < 32; ++j) v[j] = d * (float)b->qs[j];
}

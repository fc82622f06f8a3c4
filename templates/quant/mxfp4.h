#define QK 32
struct block_mxfp4 { unsigned char e; unsigned char qs[16]; };
// E2M1 values doubled to integers, with the E8M0 scale halved to match (ggml's kvalues_mxfp4).
__device__ static const signed char kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
// 2^(e-128) as f32 bits; e < 2 lands in the subnormals.
RF_DEVICE float e8m0_half(unsigned char e) {
  const unsigned bits = e < 2 ? 0x00200000u << e : (unsigned)(e - 1) << 23;
  return __builtin_bit_cast(float, bits);
}
RF_DEVICE void dequant32(const block_mxfp4* b, int sub, float* v) {
  const float d = e8m0_half(b->e);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    v[j] = d * (float)kvalues_mxfp4[b->qs[j] & 0xF];
    v[j + 16] = d * (float)kvalues_mxfp4[b->qs[j] >> 4];
  }
}

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

// Mat-vec: a block per item, its 17 bytes (any alignment) from a 32-byte window.
#define MV_ITEMS 1
#define MV_LOADS 2
struct mv_item { window<17, 1> w; };
RF_DEVICE mv_item mv_load(const block_mxfp4* b, int) { return {load_window<17, 1>(b)}; }
// Σ kvalues[idx] q for four 4-bit indices in bytes 0-3 of idx: the magnitudes of E2M1 (its low
// three bits) come from a byte table, and the sign bit splits them into two dot products.
RF_DEVICE int mxfp4_dot4(unsigned idx, int x, int acc) {
  const unsigned mag = rf_perm8(0x0C080604u, 0x03020100u, idx & 0x07070707u);
  const unsigned neg = ((idx >> 3) & 0x01010101u) * 0xFFu;
  return rf_dot4(mag & ~neg, x, acc) - rf_dot4(mag & neg, x, 0);
}
RF_DEVICE float mv_dot(const mv_item& it, int, const xq_smem& xs, int u) {
  unsigned o[5];
  window_words(it.w, o);
  const rf_u4 xl = xq_quants(xs, u, 0), xh = xq_quants(xs, u, 1), xm = xq_meta(xs, u);
  int sumi = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const unsigned q = __builtin_elementwise_fshr(o[j + 1], o[j], 8u);
    sumi = mxfp4_dot4(q & 0x0F0F0F0F, xl[j], sumi);
    sumi = mxfp4_dot4((q >> 4) & 0x0F0F0F0F, xh[j], sumi);
  }
  return e8m0_half((unsigned char)o[0]) * xq_d(xm) * (float)sumi;
}

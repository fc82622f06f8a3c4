// ggml's block_q8_1, the mat-vec's activations (written by quantize_q8_1): 32 int8 quants, their
// scale d and d·Σq, both f16.
struct block_q8_1 { half d; half s; signed char qs[32]; };
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 must match ggml's block size");

typedef unsigned rf_u4 __attribute__((ext_vector_type(4)));  // one 16-byte load
typedef int rf_i2 __attribute__((ext_vector_type(2)));

// c ? a : b on values: a conditional on two array elements is an lvalue, and picking between
// their addresses would keep a register array in scratch memory.
RF_DEVICE unsigned rf_pick(bool c, unsigned a, unsigned b) { return c ? a : b; }
RF_DEVICE int rf_pick(bool c, int a, int b) { return c ? a : b; }

RF_DEVICE float rf_half_lo(unsigned w) { return (float)__builtin_bit_cast(half, (unsigned short)w); }
RF_DEVICE float rf_half_hi(unsigned w) { return rf_half_lo(w >> 16); }

// A pass of the mat-vec's activations in shared memory, unit u being 32 of them: the two 16-byte
// halves of its quants (separate arrays, so that lanes reading consecutive units do not collide
// in the banks), its scale, and the exact sums of each half's quants (block_q8_1's s is d·Σq
// rounded to f16, too coarse against the reference for formats with an offset or mins).
#define XQ_UNITS 256
struct xq_smem {
  rf_u4 lo[XQ_UNITS];
  rf_u4 hi[XQ_UNITS];
  float d[XQ_UNITS];
  rf_i2 sum[XQ_UNITS];
};

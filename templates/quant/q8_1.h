// ggml's block_q8_1, the mat-vec's activations (written by quantize_q8_1): 32 int8 quants, their
// scale d and d·Σq, both f16.
struct block_q8_1 { half d; half s; signed char qs[32]; };
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 must match ggml's block size");

typedef unsigned rf_u4 __attribute__((ext_vector_type(4)));  // one 16-byte load

// c ? a : b on values: a conditional on two array elements is an lvalue, and picking between
// their addresses would keep a register array in scratch memory.
RF_DEVICE unsigned rf_pick(bool c, unsigned a, unsigned b) { return c ? a : b; }

RF_DEVICE float rf_half_lo(unsigned w) { return (float)__builtin_bit_cast(half, (unsigned short)w); }
RF_DEVICE float rf_half_hi(unsigned w) { return rf_half_lo(w >> 16); }

// A pass of the mat-vec's activations in shared memory, unit u being 32 of them: the two 16-byte
// halves of its quants, and its meta: {d as f32 bits, Σq, Σq over the first half, over the
// second} (block_q8_1's s is d·Σq rounded to f16, too coarse against the reference for formats
// with an offset or mins). Every entry is a 16-byte read. Unit u sits in slot u + u/8 of each
// array and hi starts 4 slots further round the banks than lo, so that the units lanes read
// together (consecutive ones; or 0, 2, 8, 10, ... in both halves for the K-quants) fall in
// different banks.
#define XQ_UNITS 256
#define XQ_SLOTS (XQ_UNITS + XQ_UNITS / 8)
struct xq_smem {
  rf_u4 lo[XQ_SLOTS];
  rf_u4 pad[4];
  rf_u4 hi[XQ_SLOTS];
  rf_u4 meta[XQ_SLOTS];
};
RF_DEVICE int xq_slot(int u) { return u + u / 8; }
// The 16 quants of half `half` (0 or 1) of unit u, and its meta.
RF_DEVICE rf_u4 xq_quants(const xq_smem& xs, int u, int half) { return half ? xs.hi[xq_slot(u)] : xs.lo[xq_slot(u)]; }
RF_DEVICE rf_u4 xq_meta(const xq_smem& xs, int u) { return xs.meta[xq_slot(u)]; }
RF_DEVICE float xq_d(const rf_u4& meta) { return __builtin_bit_cast(float, meta.x); }
// Σq over half `half` of the unit.
RF_DEVICE int xq_half_sum(const rf_u4& meta, int half) { return (int)rf_pick(half != 0, meta.w, meta.z); }

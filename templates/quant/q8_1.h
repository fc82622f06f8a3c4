// ggml's block_q8_1, the mat-vec's activations (written by quantize_q8_1): 32 int8 quants, their
// scale d and d·Σq, both f16.
struct block_q8_1 { half d; half s; signed char qs[32]; };
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 must match ggml's block size");

// The q8_1 quantization of one block of 32 values held by LANES consecutive lanes, N values a
// lane: bit for bit what quant::quantize_q8_1 (ggml's x86 quantizer) computes. d = amax / 127,
// the quants are round-half-even(x · (127 / amax)), both divisions correctly rounded; `sum`
// gets the block's Σq. Every lane of the group calls it (it shuffles within the group).
template <int LANES, int N>
RF_DEVICE float q8_1_quantize(const float (&v)[N], int (&q)[N], int& sum) {
  float amax = __builtin_fabsf(v[0]);
#pragma unroll
  for (int j = 1; j < N; ++j) amax = __builtin_fmaxf(amax, __builtin_fabsf(v[j]));
#pragma unroll
  for (int m = 1; m < LANES; m <<= 1) amax = __builtin_fmaxf(amax, __shfl_xor(amax, m));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  sum = 0;
#pragma unroll
  for (int j = 0; j < N; ++j) {
    q[j] = (int)__builtin_rintf(v[j] * id);
    sum += q[j];
  }
#pragma unroll
  for (int m = 1; m < LANES; m <<= 1) sum += __shfl_xor(sum, m);
  return d;
}

// The f16 pair at the head of a block_q8_1: d, and s = d · Σq.
RF_DEVICE unsigned q8_1_head(float d, int sum) {
  const half dh = (half)d, sh = (half)(d * (float)sum);
  return __builtin_bit_cast(unsigned short, dh) | (unsigned)__builtin_bit_cast(unsigned short, sh) << 16;
}

// Stores 4 consecutive values v at column col of a row as q8_1 into the row's blocks. Eight
// consecutive lanes make a block; all 8 call this, `in` saying whether their values lie inside
// the row.
RF_DEVICE void store_q8_1(block_q8_1* __restrict__ row, int col, rf_float4 v, bool in) {
  const float vs[4] = {v.x, v.y, v.z, v.w};
  int q[4], sum;
  const float d = q8_1_quantize<8>(vs, q, sum);
  if (!in) return;
  unsigned* block = (unsigned*)(row + col / 32);
  const int lane = (col / 4) % 8;
  block[1 + lane] = (q[0] & 0xFF) | (q[1] & 0xFF) << 8 | (q[2] & 0xFF) << 16 | (unsigned)q[3] << 24;
  if (lane == 0) block[0] = q8_1_head(d, sum);
}

// The same quantization with one value a lane: 32 consecutive lanes (all of them call this)
// make block b, lane l % 32 holding element l % 32.
RF_DEVICE void store_q8_1_lane(block_q8_1* __restrict__ b, float v) {
  const float vs[1] = {v};
  int q[1], sum;
  const float d = q8_1_quantize<32>(vs, q, sum);
  const int i = threadIdx.x % 32;
  b->qs[i] = (signed char)q[0];
  if (i == 0) *(unsigned*)b = q8_1_head(d, sum);
}

// c ? a : b on values: a conditional on two array elements is an lvalue, and picking between
// their addresses would keep a register array in scratch memory.
RF_DEVICE unsigned rf_pick(bool c, unsigned a, unsigned b) { return c ? a : b; }

// Byte l (below 32; a constant once unrolled) of the 32 bytes held in a and b.
RF_DEVICE unsigned rf_byte(const rf_u4& a, const rf_u4& b, int l) {
  return (rf_pick(l < 16, a[l % 16 / 4], b[l % 16 / 4]) >> (8 * (l % 4))) & 0xFF;
}

RF_DEVICE float rf_half_lo(unsigned w) { return (float)__builtin_bit_cast(half, (unsigned short)w); }
RF_DEVICE float rf_half_hi(unsigned w) { return rf_half_lo(w >> 16); }

// A pass of the mat-vec's activations in shared memory, unit u being 32 of them: the two 16-byte
// halves of its quants, and its meta: {d as f32 bits, Σq, Σq over the first half, over the
// second} (block_q8_1's s is d·Σq rounded to f16, too coarse against the reference for formats
// with an offset or mins). Every entry is a 16-byte read. Unit u sits in slot u + u/8 of each
// array and hi starts 4 slots further round the banks than lo, so that the units lanes read
// together (consecutive ones; or 0, 2, 8, 10, ... in both halves for the K-quants) fall in
// different banks. A family that stages more (matvec_batch) defines XQ_UNITS first.
#ifndef XQ_UNITS
#define XQ_UNITS 256
#endif
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

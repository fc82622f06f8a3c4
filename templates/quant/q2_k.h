#define QK 256
struct block_q2_k { unsigned char scales[16]; unsigned char qs[64]; half d; half dmin; };
// 2-bit weights in 16 groups of 16, each with a 4-bit scale and a 4-bit min. Sub-block s (32
// weights) is 2-bit field s % 4 of bytes qs[32 (s / 4) .. +32], with scales 2s and 2s + 1. The
// blocks are regrouped on the device (quant.hip.j2): quants, scales, then d and dmin, so that
// the quants and scales are 16-byte aligned (ggml's 84-byte blocks are 4-byte aligned).
RF_DEVICE void dequant32_at(const block_q2_k* w, long long j, long long n, int sub, float* v) {
  // The quants by 16-byte reads (see q4_k.h's dequant32_at).
  const rf_u4* q = (const rf_u4*)(group_field(w, j, n, qs) + 32 * (sub / 4));
  const rf_u4 q0 = q[0], q1 = q[1];
  const unsigned char* scales = group_field(w, j, n, scales);
  const unsigned dm = *(const unsigned*)group_field(w, j, n, dm);
  const float d = rf_half_lo(dm), dmin = rf_half_hi(dm);
  const int shift = 2 * (sub % 4);
#pragma unroll
  for (int g = 0; g < 2; ++g) {
    const unsigned char sc = scales[2 * sub + g];
    const float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
#pragma unroll
    for (int l = 0; l < 16; ++l) v[16 * g + l] = dl * (float)((rf_byte(q0, q1, 16 * g + l) >> shift) & 3) - ml;
  }
}

// Mat-vec: item p (of 4) is columns l = 16i .. 16i + 15 (i = p % 2) of the four sub-blocks
// s = 4 hf .. 4 hf + 3 (hf = p / 2): the quant chunk at 32 hf + 16 i (16-byte aligned; each
// quant byte of the block read once), the eight scale bytes of those sub-blocks, d and dmin.
// Counted as 3 loads against the budget: as 2, the 16-row mat-vec at 16 loads spilled on sm_90.
#define MV_ITEMS 4
#define MV_LOADS 3
struct mv_item {
  rf_u4 q;
  unsigned long long sc;
  unsigned dm;
};
RF_DEVICE mv_item mv_load_at(const block_q2_k* w, long long j, long long n, int p) {
  const int hf = p / 2, i = p % 2;
  return {*(const rf_u4*)(group_field(w, j, n, qs) + 32 * hf + 16 * i),
          *(const unsigned long long*)(group_field(w, j, n, scales) + 8 * hf),
          *(const unsigned*)group_field(w, j, n, dm)};
}
// Σ_k dx_k (d · sc_k · Σ v q - dmin · m_k · Σ q) over the item's four sub-blocks k, whose
// activations are half i of unit u + 4 hf + k; group 2 (4 hf + k) + i's scale and min are byte
// 2k + i of the item's scale bytes.
RF_DEVICE float mv_dot(const mv_item& it, int p, const xq_smem& xs, int u) {
  const int hf = p / 2, i = p % 2;
  const int uk = u + 4 * hf;
  int dot[4] = {0, 0, 0, 0};
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const rf_u4 x = xq_quants(xs, uk + k, i);
#pragma unroll
    for (int w = 0; w < 4; ++w) dot[k] = rf_dot4((it.q[w] >> (2 * k)) & 0x03030303, x[w], dot[k]);
  }
  float scaled = 0.0f, mins = 0.0f;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const rf_u4 m = xq_meta(xs, uk + k);
    const unsigned sc = (unsigned)(it.sc >> (8 * (2 * k + i)));
    scaled += xq_d(m) * (float)((int)(sc & 0xF) * dot[k]);
    mins += xq_d(m) * (float)((int)((sc >> 4) & 0xF) * xq_half_sum(m, i));
  }
  return rf_half_lo(it.dm) * scaled - rf_half_hi(it.dm) * mins;
}

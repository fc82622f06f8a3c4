#define QK 256
struct block_q6_k { unsigned char ql[128]; unsigned char qh[64]; signed char scales[16]; half d; };
// 6-bit weights (4 low bits in ql, 2 high in qh) minus 32, in 16 groups of 16 with int8 scales.
// Each half hf of 128 weights has four quarters: quarter k takes nibble k/2 of
// ql[64 hf + 32 (k % 2) + l], bits 2k..2k+1 of qh[32 hf + l] and scale 8 hf + 2k + l / 16, for
// l < 32. The blocks are regrouped on the device (quant.hip.j2), so that ql, qh and the scales
// are 16-byte aligned (ggml's 210-byte blocks are 2-byte aligned).
RF_DEVICE void dequant32_at(const block_q6_k* w, long long j, long long n, int sub, float* v) {
  const int hf = sub / 4, k = sub % 4;
  // ql and qh by 16-byte reads (see q4_k.h's dequant32_at).
  const rf_u4* ql = (const rf_u4*)(group_field(w, j, n, ql) + 64 * hf + 32 * (k % 2));
  const rf_u4* qh = (const rf_u4*)(group_field(w, j, n, qh) + 32 * hf);
  const rf_u4 l0 = ql[0], l1 = ql[1], h0 = qh[0], h1 = qh[1];
  const signed char* sc = (const signed char*)group_field(w, j, n, scales) + 8 * hf + 2 * k;
  const float d = (float)*(const half*)group_field(w, j, n, d);
  const int lshift = 4 * (k / 2), hshift = 2 * k;
#pragma unroll
  for (int l = 0; l < 32; ++l) {
    const int q = (((rf_byte(l0, l1, l) >> lshift) & 0xF) | (((rf_byte(h0, h1, l) >> hshift) & 3) << 4)) - 32;
    v[l] = d * (float)sc[l / 16] * (float)q;
  }
}

// Mat-vec: item p (of 4) is columns l = 16i .. 16i + 15 (i = p % 2) of all four quarters of half
// hf = p / 2: ql chunks at 64 hf + 16 i and 64 hf + 32 + 16 i, the qh chunk at 32 hf + 16 i
// (each byte read once, all three 16-byte aligned), the half's eight scales and d. Three
// 16-byte loads and two small ones for 64 weights, counted as 5 against the load budget: an item
// holds 15 registers, and counted as 4, matvec_multi's 16 rows x 16 loads spilled on sm_90.
#define MV_ITEMS 4
#define MV_LOADS 5
struct mv_item {
  rf_u4 l0, l1, h;
  unsigned long long sc;
  unsigned short d;
};
RF_DEVICE mv_item mv_load_at(const block_q6_k* w, long long j, long long n, int p) {
  const int hf = p / 2, i = p % 2;
  const rf_u4* ql = (const rf_u4*)(group_field(w, j, n, ql) + 64 * hf + 16 * i);
  return {ql[0], ql[2], *(const rf_u4*)(group_field(w, j, n, qh) + 32 * hf + 16 * i),
          *(const unsigned long long*)(group_field(w, j, n, scales) + 8 * hf),
          *(const unsigned short*)group_field(w, j, n, d)};
}
// d · Σ_k dx_k · sc_k · Σ (v - 32) q over the item's four quarters k, whose activations are
// half i of unit u + 4 hf + k.
RF_DEVICE float mv_dot(const mv_item& it, int p, const xq_smem& xs, int u) {
  const int hf = p / 2, i = p % 2;
  const int uk = u + 4 * hf;
  const rf_u4 x0 = xq_quants(xs, uk, i), x1 = xq_quants(xs, uk + 1, i);
  const rf_u4 x2 = xq_quants(xs, uk + 2, i), x3 = xq_quants(xs, uk + 3, i);
  int dot[4] = {0, 0, 0, 0};
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    const unsigned h = it.h[w];
    dot[0] = rf_dot4((it.l0[w] & 0x0F0F0F0F) | ((h << 4) & 0x30303030), x0[w], dot[0]);
    dot[1] = rf_dot4((it.l1[w] & 0x0F0F0F0F) | ((h << 2) & 0x30303030), x1[w], dot[1]);
    dot[2] = rf_dot4(((it.l0[w] >> 4) & 0x0F0F0F0F) | (h & 0x30303030), x2[w], dot[2]);
    dot[3] = rf_dot4(((it.l1[w] >> 4) & 0x0F0F0F0F) | ((h >> 2) & 0x30303030), x3[w], dot[3]);
  }
  float f = 0.0f;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const rf_u4 m = xq_meta(xs, uk + k);
    const int sc = (signed char)(it.sc >> (8 * (i + 2 * k)));
    f += xq_d(m) * (float)(sc * (dot[k] - 32 * xq_half_sum(m, i)));
  }
  return rf_half_lo(it.d) * f;
}

// Blocks stored as ggml stores them sit at 1-, 4- or 8-byte alignment (17-byte mxfp4, 36-byte
// q8_1 activations, 24-byte q5_1; the other formats are regrouped on the device): a lane reads
// the bytes it needs as the 16-byte-aligned chunks around them, and shifts them into place in
// registers. Lanes take consecutive pieces of a row, so a wave's 16-byte loads
// cover one contiguous run: half the L1 traffic of 2-byte loads, an eighth of the instructions.

// LEN bytes at ALIGN-byte alignment: the chunks that can hold them, and where they start.
template <int LEN, int ALIGN>
struct window {
  static constexpr int N = (LEN + 16 - ALIGN + 15) / 16;
  rf_u4 c[N];
  int off;
};

// A chunk without any of the bytes is not loaded, so the read stays within the 16-byte pieces
// of the buffer.
template <int LEN, int ALIGN>
RF_DEVICE window<LEN, ALIGN> load_window(const void* p) {
  window<LEN, ALIGN> w;
  w.off = (int)((unsigned long long)p & 15);
  // Derived from p rather than from its address as an integer: the compiler keeps knowing
  // that the loads read global memory.
  const rf_u4* c = (const rf_u4*)((const char*)p - w.off);
#pragma unroll
  for (int k = 0; k < w.N; ++k) {
    if (16 * k < w.off + LEN) w.c[k] = c[k];
    else w.c[k] = 0u;
  }
  return w;
}

// M words from the window's offset on: the chunks shifted by 8 bytes, by 4, then by the last
// 0-3 bytes, leaving out the shifts the alignment rules out; bytes past the window read as 0.
template <int M, int LEN, int ALIGN>
RF_DEVICE void window_words(const window<LEN, ALIGN>& w, unsigned (&out)[M]) {
  constexpr int W = 4 * window<LEN, ALIGN>::N;
  unsigned s8[M + 2], s4[M + 1];
#pragma unroll
  for (int i = 0; i < M + 2; ++i) {
    const unsigned a = i < W ? w.c[i / 4][i % 4] : 0u;
    const unsigned b = i + 2 < W ? w.c[(i + 2) / 4][(i + 2) % 4] : 0u;
    s8[i] = rf_pick(ALIGN < 16 && (w.off & 8), b, a);
  }
#pragma unroll
  for (int i = 0; i < M + 1; ++i) s4[i] = rf_pick(ALIGN < 8 && (w.off & 4), s8[i + 1], s8[i]);
#pragma unroll
  for (int i = 0; i < M; ++i) {
    out[i] = ALIGN < 4 ? __builtin_elementwise_fshr(s4[i + 1], s4[i], (unsigned)(w.off & 3) * 8u) : s4[i];
  }
}

// Bytes 2-5 of the 8 bytes hi:lo (a field that starts 2 bytes into a word).
RF_DEVICE unsigned rf_skip2(unsigned hi, unsigned lo) { return __builtin_elementwise_fshr(hi, lo, 16u); }

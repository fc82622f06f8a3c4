// Scale and min of group j (of 8) in Q4_K and Q5_K: 6 bits each, packed into 12 bytes
// (ggml's get_scale_min_k4).
RF_DEVICE void k4_scale_min(int j, const unsigned char* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

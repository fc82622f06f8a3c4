// Bits 0-3 of `bits` moved to bit 4 of bytes 0-3: the fifth bits of four Q5 weights (the
// multiplier's four shifted copies do not overlap, so nothing carries).
RF_DEVICE unsigned q5_fifth_bits(unsigned bits) { return ((bits & 0xF) * 0x02040810u) & 0x10101010u; }

// Σ v q over the block's 32 five-bit values v (nibbles in qs, fifth bits in qh) and quants q.
RF_DEVICE int q5_dot(unsigned qh, const unsigned (&qs)[4], const rf_u4& xl, const rf_u4& xh) {
  int sumi = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    sumi = rf_dot4((qs[j] & 0x0F0F0F0F) | q5_fifth_bits(qh >> (4 * j)), xl[j], sumi);
    sumi = rf_dot4(((qs[j] >> 4) & 0x0F0F0F0F) | q5_fifth_bits(qh >> (4 * j + 16)), xh[j], sumi);
  }
  return sumi;
}

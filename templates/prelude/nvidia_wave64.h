// An AMD wave64 emulated on NVIDIA, so that the H200 executes the gfx942/gfx950 algorithms
// (`rocmforge compile --arch gfx942 --emulate-on sm_90`, then `test-kernels`); never used to run
// a model. Wave w of a workgroup is warps 2w and 2w + 1, threads 64w .. 64w + 63 (launches are
// one-dimensional), lane l its thread 64w + l. A shuffle within a 32-lane half is the warp's own;
// one across the halves goes through shared memory between two barriers of the wave's two warps
// (named barrier 1 + w: 0 is __syncthreads', so 15 waves at most; codegen leaves out families
// with more). Both warps of a wave must reach every shuffle, as on AMD, where a shuffle reads
// the other lanes' registers in lock step.
static_assert(BLOCK_SIZE % 64 == 0 && BLOCK_SIZE / 64 <= 15, "whole waves, one named barrier each");

RF_DEVICE int rf_lane_id() { return threadIdx.x % 64; }

// Waits until both warps of this thread's wave arrive; their shared-memory writes before it are
// visible after it.
RF_DEVICE void rf_wave64_barrier() { asm volatile("bar.sync %0, 64;" ::"r"(1 + threadIdx.x / 64) : "memory"); }
RF_DEVICE void rf_emulated_wave_sync() { rf_wave64_barrier(); }

RF_DEVICE int __shfl_xor(int v, int mask) {
  if (mask < 32) return rf_warp_shfl_xor(v, mask);
  __shared__ int exchanged[BLOCK_SIZE];
  const int t = threadIdx.x;
  rf_wave64_barrier();  // the other warp has read the previous exchange
  exchanged[t] = v;
  rf_wave64_barrier();
  return exchanged[(t & ~63) | ((t & 63) ^ mask)];
}

// AMD primitives (clang -x hip -nogpuinc -nogpulib): HIP's names, defined without ROCm's headers
// so that a kernel compiles with nothing but clang and lld. WAVE_SIZE comes from the generator
// (clang 22 no longer tells wave32 from wave64 on gfx11 by a macro).
#define __global__ __attribute__((global))
#define __grid_constant__  // tensor maps are NVIDIA's; here they are zeros, never read
#define RF_TENSOR_MAP_ALIGN 16  // rf_tensor_map's alignment (prelude/common.h)
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __launch_bounds__(n) __attribute__((amdgpu_flat_work_group_size(1, n)))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define RF_DEVICE static __device__ __forceinline__

typedef _Float16 half;
struct rf_dim3 { unsigned x, y, z; };
#define threadIdx (rf_dim3{__builtin_amdgcn_workitem_id_x(), __builtin_amdgcn_workitem_id_y(), __builtin_amdgcn_workitem_id_z()})
#define blockIdx (rf_dim3{__builtin_amdgcn_workgroup_id_x(), __builtin_amdgcn_workgroup_id_y(), __builtin_amdgcn_workgroup_id_z()})
// The dispatch packet counts work-items; workgroups are BLOCK_SIZE x 1 x 1 (a launch rule has
// only `threads`), so only x needs dividing. Read from the packet: no hidden kernel arguments.
#define gridDim (rf_dim3{__builtin_amdgcn_grid_size_x() / BLOCK_SIZE, __builtin_amdgcn_grid_size_y(), __builtin_amdgcn_grid_size_z()})

RF_DEVICE void __syncthreads() {
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
  __builtin_amdgcn_s_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}

// Kernels in a HIP stream never overlap: nothing to wait for (see prelude/nvidia.h).
RF_DEVICE void rf_wait_prior_kernels() {}

// A device-scope fence (see prelude/nvidia.h): waits for this wave's stores, and invalidates its
// caches for the loads after it.
RF_DEVICE void rf_device_fence() { __builtin_amdgcn_fence(__ATOMIC_SEQ_CST, "agent"); }

RF_DEVICE int rf_lane_id() {
  // mbcnt_hi adds nothing for lanes 0..31, so this is right for wave32 and wave64.
  return __builtin_amdgcn_mbcnt_hi(~0u, __builtin_amdgcn_mbcnt_lo(~0u, 0u));
}

RF_DEVICE int __shfl_xor(int v, int mask) {
  return __builtin_amdgcn_ds_bpermute((rf_lane_id() ^ mask) << 2, v);
}
RF_DEVICE float __shfl_xor(float v, int mask) {
  return __builtin_bit_cast(float, __shfl_xor(__builtin_bit_cast(int, v), mask));
}

RF_DEVICE float rf_exp2f(float x) { return __builtin_amdgcn_exp2f(x); }
RF_DEVICE float rsqrtf(float x) { return __builtin_amdgcn_rsqf(x); }

// c + the dot product of a's and b's four signed bytes (the quantized mat-vec's inner step):
// v_dot4_i32_i8 on CDNA, v_dot4_i32_iu8 with both operands signed on RDNA3 (which has no i8 form).
RF_DEVICE int rf_dot4(int a, int b, int c) {
#if defined(__gfx942__) || defined(__gfx950__)
  return __builtin_amdgcn_sdot4(a, b, c, false);
#else
  return __builtin_amdgcn_sudot4(true, a, true, b, c, false);
#endif
}
// Byte k of the result is byte (sel >> 8k) & 7 of the 8 bytes hi:lo (v_perm_b32).
RF_DEVICE unsigned rf_perm8(unsigned hi, unsigned lo, unsigned sel) { return __builtin_amdgcn_perm(hi, lo, sel); }

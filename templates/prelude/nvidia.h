// NVIDIA primitives (clang -x cuda -nocudainc -nocudalib for sm_90, then ptxas): the HIP names
// our kernels use, mapped onto the NVVM builtins behind CUDA's own (`__shfl_xor_sync`,
// `threadIdx`), so no CUDA toolkit headers are needed. Warps are 32 lanes wide.
#define __launch_bounds__(n) __attribute__((launch_bounds(n)))
#define __global__ __attribute__((global))
// A by-value parameter the kernel may take the address of without a copy (tensor maps).
#define __grid_constant__ __attribute__((grid_constant))
#define RF_TENSOR_MAP_ALIGN 64  // rf_tensor_map's alignment (prelude/common.h)
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define RF_DEVICE static __device__ __forceinline__

typedef _Float16 half;
struct rf_dim3 { unsigned x, y, z; };
#define threadIdx (rf_dim3{(unsigned)__nvvm_read_ptx_sreg_tid_x(), (unsigned)__nvvm_read_ptx_sreg_tid_y(), (unsigned)__nvvm_read_ptx_sreg_tid_z()})
#define blockIdx (rf_dim3{(unsigned)__nvvm_read_ptx_sreg_ctaid_x(), (unsigned)__nvvm_read_ptx_sreg_ctaid_y(), (unsigned)__nvvm_read_ptx_sreg_ctaid_z()})
#define gridDim (rf_dim3{(unsigned)__nvvm_read_ptx_sreg_nctaid_x(), (unsigned)__nvvm_read_ptx_sreg_nctaid_y(), (unsigned)__nvvm_read_ptx_sreg_nctaid_z()})
// __syncthreads() is a clang builtin on NVPTX (bar.sync 0).

// Launches may overlap (programmatic dependent launch, see backend/gpu/driver.rs): every kernel
// calls this before it reads or writes memory that the kernels before it in the stream use. It
// first lets the next kernel begin launching, so that kernel's launch and first weight loads
// overlap this one's work, then waits until the kernels before have finished and their writes
// are visible. (The next kernel waits in turn for this one to finish, so nothing it reads can be
// early. Letting it launch before this wait rather than after: 8B decode +2 %, mat-vec Q4_0 at
// 4096x4096 +12 %, on an H200.) A no-op when the launch did not allow overlap.
RF_DEVICE void rf_wait_prior_kernels() {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  asm volatile("griddepcontrol.wait;" ::: "memory");
}

// Orders this thread's memory accesses before it against those after it, for the whole device
// (membar.gl): with a barrier and an atomic, how one workgroup hands results to another.
RF_DEVICE void rf_device_fence() { __nvvm_membar_gl(); }

// A shared-memory pointer as the 32-bit shared-window address that PTX's shared-memory
// instructions take (cp.async, ldmatrix, mbarrier, tensor copies, wgmma descriptors).
RF_DEVICE unsigned rf_shared_u32(const void* p) {
  unsigned long long shared;
  asm("cvta.to.shared.u64 %0, %1;" : "=l"(shared) : "l"(p));
  return (unsigned)shared;
}

// Lane l of a warp gets lane l ^ mask's v (mask < 32).
RF_DEVICE int rf_warp_shfl_xor(int v, int mask) { return __nvvm_shfl_sync_bfly_i32(0xffffffffu, v, mask, 0x1f); }
{% if ctx.wave == 64 %}
{% include "prelude/nvidia_wave64.h" %}
{% else %}
RF_DEVICE int rf_lane_id() { return __nvvm_read_ptx_sreg_laneid(); }
RF_DEVICE int __shfl_xor(int v, int mask) { return rf_warp_shfl_xor(v, mask); }
// An emulated wave's lanes wait for each other here (the warp is the wave).
RF_DEVICE void rf_emulated_wave_sync() { __nvvm_bar_warp_sync(0xffffffffu); }
{% endif %}
RF_DEVICE float __shfl_xor(float v, int mask) { return __builtin_bit_cast(float, __shfl_xor(__builtin_bit_cast(int, v), mask)); }

RF_DEVICE float rf_exp2f(float x) { return __nvvm_ex2_approx_f(x); }
RF_DEVICE float rsqrtf(float x) { return __nvvm_rsqrt_approx_f(x); }

// c + the dot product of a's and b's four signed bytes (dp4a; the quantized mat-vec's inner step).
// LLVM's intrinsic, named directly (clang has no builtin for it): unlike inline asm, the
// compiler knows it touches no memory, so it still merges and schedules the loads around it.
extern "C" __device__ int rf_nvvm_idp4a(int a, int b, int c) __asm("llvm.nvvm.idp4a.s.s");
RF_DEVICE int rf_dot4(int a, int b, int c) { return rf_nvvm_idp4a(a, b, c); }
// Byte k of the result is byte (sel >> 8k) & 7 of the 8 bytes hi:lo (a 16-entry byte table
// lookup takes two). prmt wants the four selectors as nibbles.
RF_DEVICE unsigned rf_perm8(unsigned hi, unsigned lo, unsigned sel) {
  const unsigned s = sel | (sel >> 4);
  return __nvvm_prmt(lo, hi, (s & 0xFF) | ((s >> 8) & 0xFF00));
}

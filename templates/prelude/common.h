// Portable helpers on top of the target primitives. Reductions are sized by WAVE_SIZE and
// BLOCK_SIZE, never by a literal 32.
#define N_WAVES (BLOCK_SIZE / WAVE_SIZE)

typedef _Float16 rf_half4 __attribute__((ext_vector_type(4)));
typedef _Float16 rf_half8 __attribute__((ext_vector_type(8)));
typedef _Float16 rf_half16 __attribute__((ext_vector_type(16)));
typedef float rf_float4 __attribute__((ext_vector_type(4)));
typedef float rf_float8 __attribute__((ext_vector_type(8)));
typedef unsigned rf_u4 __attribute__((ext_vector_type(4)));  // one 16-byte load

// A tensor map (NVIDIA's CUtensorMap: how a bulk tensor copy reads a matrix), taken by value as
// `const __grid_constant__ rf_tensor_map`; the launch makes it (catalog ParamKind::TensorMap).
// Targets without such copies receive zeros and do not read it. Its alignment is the prelude's
// RF_TENSOR_MAP_ALIGN: NVIDIA's 64 bytes, 16 elsewhere, which puts it at the same offset
// (catalog::TENSOR_MAP_ALIGN says why).
struct alignas(RF_TENSOR_MAP_ALIGN) rf_tensor_map {
  unsigned long long opaque[16];
};

RF_DEVICE float wave_reduce_sum(float v) {
#pragma unroll
  for (int m = WAVE_SIZE / 2; m > 0; m >>= 1) v += __shfl_xor(v, m);
  return v;
}

RF_DEVICE float wave_reduce_max(float v) {
#pragma unroll
  for (int m = WAVE_SIZE / 2; m > 0; m >>= 1) v = __builtin_fmaxf(v, __shfl_xor(v, m));
  return v;
}

// The whole workgroup's sum, returned to every thread. `scratch` holds N_WAVES floats.
RF_DEVICE float block_reduce_sum(float v, float* scratch) {
  const int lane = threadIdx.x % WAVE_SIZE, wave = threadIdx.x / WAVE_SIZE;
  v = wave_reduce_sum(v);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[wave] = v;
  __syncthreads();
  v = lane < N_WAVES ? scratch[lane] : 0.0f;
  return wave_reduce_sum(v);
}

RF_DEVICE float block_reduce_max(float v, float* scratch) {
  const int lane = threadIdx.x % WAVE_SIZE, wave = threadIdx.x / WAVE_SIZE;
  v = wave_reduce_max(v);
  __syncthreads();
  if (lane == 0) scratch[wave] = v;
  __syncthreads();
  v = lane < N_WAVES ? scratch[lane] : -__builtin_inff();
  return wave_reduce_max(v);
}

RF_DEVICE float rf_expf(float x) { return rf_exp2f(x * 1.4426950408889634f); }

// tanh through exp: there is no libm on the device side. Saturates cleanly at ±1.
RF_DEVICE float rf_tanhf(float x) { return 1.0f - 2.0f / (rf_expf(2.0f * x) + 1.0f); }

// sin and cos of an f32 angle of any size used by RoPE (positions reach 10^5 radians and more).
// The quadrant is found in double so the reduced argument keeps f32 accuracy; the polynomials
// are Cephes' sinf/cosf on [-pi/4, pi/4].
RF_DEVICE void rf_sincosf(float x, float* s, float* c) {
  const double k = __builtin_rint((double)x * 0.63661977236758134308);  // 2/pi
  const float r = (float)((double)x - k * 1.57079632679489661923);
  const float r2 = r * r;
  const float sr = r + r * r2 * (-1.6666654611e-1f + r2 * (8.3321608736e-3f + r2 * -1.9515295891e-4f));
  const float cr = 1.0f - 0.5f * r2 + r2 * r2 * (4.166664568298827e-2f + r2 * (-1.388731625493765e-3f + r2 * 2.443315711809948e-5f));
  switch ((long long)k & 3) {
    case 0: *s = sr; *c = cr; break;
    case 1: *s = cr; *c = -sr; break;
    case 2: *s = -sr; *c = -cr; break;
    default: *s = -cr; *c = sr; break;
  }
}

// Relaxed atomic add (HIP/CUDA's atomicAdd), on global or shared memory.
RF_DEVICE unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
RF_DEVICE int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

// Two floats as the f16 pair of one 32-bit word, the first in the low half.
RF_DEVICE unsigned rf_pack_half2(float lo, float hi) {
  return (unsigned)__builtin_bit_cast(unsigned short, (half)lo) | (unsigned)__builtin_bit_cast(unsigned short, (half)hi) << 16;
}

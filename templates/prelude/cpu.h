// The CPU's kernel simulator (`rocmforge compile --arch gfx1100 --emulate-on cpu`, then
// `rocmforge test-kernels --device sim`): an AMD target's algorithm compiled as host C++ into a
// shared library, so that a machine without a GPU executes the kernels' logic. Never used to
// run a model fast.
//
// Each GPU thread of a workgroup is a fiber (its own stack, switched by hand below); a worker
// thread runs one workgroup's fibers at a time, each until it reaches a barrier, a shuffle or its
// end. `__syncthreads` waits for every live thread of the workgroup, a shuffle for every live
// lane of its wave (lock step, as on AMD: a lane that stops at another shuffle or barrier than
// its wave's is reported as a deadlock, where hardware would compute garbage). Shared memory is
// thread_local storage: a worker runs one workgroup at a time. Exact float functions stand in for
// the GPU's approximate ones.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <thread>
#include <tuple>
#include <vector>
#include <sys/mman.h>
#include <unistd.h>

#define __global__
#define __grid_constant__  // tensor maps are NVIDIA's; here they are zeros, never read
#define RF_TENSOR_MAP_ALIGN 16  // rf_tensor_map's alignment (prelude/common.h)
#define __device__
#define __shared__ static thread_local
#define __launch_bounds__(n)
#define __forceinline__ inline
#define RF_DEVICE static inline

typedef _Float16 half;
struct rf_dim3 { unsigned x, y, z; };

namespace rf_sim {

// A fiber's saved stack pointer; its callee-saved registers are on that stack.
typedef void* StackPointer;

}  // namespace rf_sim

#if defined(__x86_64__)
// Saves the callee-saved registers on the current stack, stores its pointer in *save, and resumes
// the fiber whose stack pointer is `to` (System V AMD64). The float control words are left alone:
// every fiber of a worker runs with the worker's, which no kernel changes (saving them took a
// third of the simulator's time).
extern "C" void rf_sim_switch(rf_sim::StackPointer* save, rf_sim::StackPointer to);
asm(R"(
  .text
  .p2align 4
  .globl rf_sim_switch
  .hidden rf_sim_switch
  .type rf_sim_switch, @function
rf_sim_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size rf_sim_switch, .-rf_sim_switch
)");
#else
#error "the kernel simulator switches fibers with x86-64 code"
#endif

namespace rf_sim {

enum class Wait : unsigned char { None, Block, Wave, Done };

struct Fiber {
  StackPointer sp;
  unsigned tid;
  unsigned gen;       // the generation of the barrier it waits at
  unsigned shuffles;  // how many it has made: its wave's lanes make the same ones
  Wait wait;
};

// Threads that must all arrive before any goes on; those that have ended no longer count.
struct Barrier {
  unsigned live, arrived, gen;
  void reset(unsigned n) { live = n; arrived = 0; gen = 0; }
  void arrive(Fiber& f) {
    f.gen = gen;
    if (++arrived == live) release();
  }
  void leave() {
    --live;
    if (arrived != 0 && arrived == live) release();
  }
  void release() { arrived = 0; ++gen; }
  bool passed(const Fiber& f) const { return gen != f.gen; }
};

constexpr size_t kStackBytes = 128 * 1024;
constexpr unsigned kWaves = (BLOCK_SIZE + WAVE_SIZE - 1) / WAVE_SIZE;

// One worker's workgroup: its fibers, barriers and shuffle slots.
struct Workgroup {
  const unsigned char* kernargs;
  rf_dim3 block_idx, grid_dim;
  Fiber fibers[BLOCK_SIZE];
  Barrier block, waves[kWaves];
  int exchange[2][BLOCK_SIZE];  // shuffle slots, alternate shuffles in alternate rows
  Fiber* current;
  StackPointer scheduler;
  char* stacks;  // BLOCK_SIZE stacks, each above a guard page
};

static thread_local Workgroup* tls_group;

}  // namespace rf_sim

// The kernel with its arguments, defined after the kernel (pipeline::render).
static void rf_sim_body(const unsigned char* kernargs);

namespace rf_sim {

inline Workgroup& group() { return *tls_group; }

inline void yield() { rf_sim_switch(&group().current->sp, group().scheduler); }

[[noreturn]] static void fiber_main() {
  rf_sim_body(group().kernargs);
  Workgroup& g = group();
  Fiber& f = *g.current;
  f.wait = Wait::Done;
  g.block.leave();
  g.waves[f.tid / WAVE_SIZE].leave();
  rf_sim_switch(&f.sp, g.scheduler);
  __builtin_unreachable();
}

inline void sync_block() {
  Workgroup& g = group();
  g.current->wait = Wait::Block;
  g.block.arrive(*g.current);
  yield();
}

inline void sync_wave() {
  Workgroup& g = group();
  g.current->wait = Wait::Wave;
  g.waves[g.current->tid / WAVE_SIZE].arrive(*g.current);
  yield();
}

// Lane l gets lane l ^ mask's v: every lane writes its slot, the wave meets, every lane reads its
// partner's. Alternate shuffles use alternate rows of slots: a lane writes this row again only
// after the wave has met at the next shuffle, when every lane has read it.
inline int shfl_xor(int v, int mask) {
  Fiber& f = *group().current;
  int* slots = group().exchange[f.shuffles++ % 2];
  const unsigned t = f.tid;
  slots[t] = v;
  sync_wave();
  return slots[(t - t % WAVE_SIZE) | ((t % WAVE_SIZE) ^ (unsigned)mask)];
}

// A new fiber's stack: the six registers rf_sim_switch pops, then fiber_main as the return
// address, 16-byte aligned as at a call.
inline StackPointer new_fiber_stack(char* top) {
  uint64_t* sp = (uint64_t*)((uintptr_t)top & ~(uintptr_t)15) - 2;
  sp[0] = (uint64_t)(uintptr_t)&fiber_main;
  sp -= 6;
  for (int i = 0; i < 6; ++i) sp[i] = 0;
  return sp;
}

inline bool runnable(const Workgroup& g, const Fiber& f) {
  switch (f.wait) {
    case Wait::None: return true;
    case Wait::Block: return g.block.passed(f);
    case Wait::Wave: return g.waves[f.tid / WAVE_SIZE].passed(f);
    case Wait::Done: return false;
  }
  return false;
}

// Runs one workgroup to its end; false (with `error` written) if its threads wait for each other
// in a way that can never end.
inline bool run_workgroup(Workgroup& g, char* error, size_t error_len) {
  const size_t slot = kStackBytes + (size_t)getpagesize();
  g.block.reset(BLOCK_SIZE);
  for (unsigned w = 0; w < kWaves; ++w) g.waves[w].reset(w + 1 < kWaves ? WAVE_SIZE : BLOCK_SIZE - w * WAVE_SIZE);
  for (unsigned t = 0; t < BLOCK_SIZE; ++t) {
    g.fibers[t] = Fiber{new_fiber_stack(g.stacks + (t + 1) * slot), t, 0, 0, Wait::None};
  }
  unsigned done = 0;
  while (done < BLOCK_SIZE) {
    bool progressed = false;
    for (Fiber& f : g.fibers) {
      if (!runnable(g, f)) continue;
      f.wait = Wait::None;
      g.current = &f;
      rf_sim_switch(&g.scheduler, f.sp);
      progressed = true;
      done += f.wait == Wait::Done;
    }
    if (!progressed) {
      unsigned at_block = 0, at_wave = 0;
      for (const Fiber& f : g.fibers) {
        at_block += f.wait == Wait::Block;
        at_wave += f.wait == Wait::Wave;
      }
      std::snprintf(error, error_len,
                    "workgroup (%u, %u, %u) deadlocked: %u threads wait at __syncthreads, %u at a wave "
                    "shuffle, %u have ended (threads of one wave must meet at the same shuffles)",
                    g.block_idx.x, g.block_idx.y, g.block_idx.z, at_block, at_wave, done);
      return false;
    }
  }
  return true;
}

// The stacks of one worker, each above a guard page so that an overflow faults.
inline char* map_stacks() {
  const size_t page = (size_t)getpagesize(), slot = kStackBytes + page;
  void* p = mmap(nullptr, slot * BLOCK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  for (unsigned t = 0; t < BLOCK_SIZE; ++t) mprotect((char*)p + t * slot, page, PROT_NONE);
  return (char*)p;
}

// A kernel parameter of type T at the next offset aligned for it in the kernarg bytes.
template <class T>
T kernarg(const unsigned char* kernargs, size_t& offset) {
  offset = (offset + alignof(T) - 1) / alignof(T) * alignof(T);
  T value;
  std::memcpy(&value, kernargs + offset, sizeof(T));
  offset += sizeof(T);
  return value;
}

template <class... P>
void call(void (*kernel)(P...), const unsigned char* kernargs) {
  size_t offset = 0;
  std::tuple<P...> args{kernarg<P>(kernargs, offset)...};  // braces: read in order
  std::apply(kernel, args);
}

// Whether the kernel's parameter types give the (offset, size) pairs `want`.
template <class... P, size_t N>
constexpr bool kernargs_laid_out_as(void (*)(P...), const unsigned (&want)[N]) {
  if (N != 2 * sizeof...(P)) return false;
  const size_t sizes[] = {sizeof(P)...}, aligns[] = {alignof(P)...};
  size_t offset = 0;
  for (size_t i = 0; i < sizeof...(P); ++i) {
    offset = (offset + aligns[i] - 1) / aligns[i] * aligns[i];
    if (want[2 * i] != offset || want[2 * i + 1] != sizes[i]) return false;
    offset += sizes[i];
  }
  return true;
}

}  // namespace rf_sim

// Runs the kernel over the grid, workgroups spread over the machine's cores; returns 0, or 1 with
// `error` written.
extern "C" __attribute__((visibility("default"))) int rf_sim_launch(const unsigned grid[3], unsigned threads,
                                                                    const unsigned char* kernargs, char* error,
                                                                    size_t error_len) {
  if (threads != BLOCK_SIZE) {
    std::snprintf(error, error_len, "launched with %u threads a workgroup; the kernel was built for %u", threads,
                  (unsigned)BLOCK_SIZE);
    return 1;
  }
  const uint64_t n_groups = (uint64_t)grid[0] * grid[1] * grid[2];
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  auto worker = [&](char* message, size_t message_len) {
    rf_sim::Workgroup* g = new rf_sim::Workgroup();
    g->kernargs = kernargs;
    g->grid_dim = rf_dim3{grid[0], grid[1], grid[2]};
    g->stacks = rf_sim::map_stacks();
    if (g->stacks == nullptr) {
      std::snprintf(message, message_len, "could not map %u fiber stacks", (unsigned)BLOCK_SIZE);
      failed = true;
    }
    rf_sim::tls_group = g;
    for (uint64_t i; !failed && (i = next.fetch_add(1)) < n_groups;) {
      g->block_idx = rf_dim3{(unsigned)(i % grid[0]), (unsigned)(i / grid[0] % grid[1]), (unsigned)(i / grid[0] / grid[1])};
      if (!rf_sim::run_workgroup(*g, message, message_len)) failed = true;
    }
    if (g->stacks != nullptr) munmap(g->stacks, (rf_sim::kStackBytes + (size_t)getpagesize()) * BLOCK_SIZE);
    delete g;
  };
  const unsigned cores = std::thread::hardware_concurrency();
  const unsigned n_workers = (unsigned)std::min<uint64_t>(cores == 0 ? 1 : cores, n_groups);
  std::vector<std::vector<char>> messages(n_workers, std::vector<char>(512, 0));
  std::vector<std::thread> workers;
  for (unsigned w = 1; w < n_workers; ++w) workers.emplace_back(worker, messages[w].data(), messages[w].size());
  if (n_workers > 0) worker(messages[0].data(), messages[0].size());
  for (std::thread& t : workers) t.join();
  for (const std::vector<char>& m : messages) {
    if (m[0] != 0) {
      std::snprintf(error, error_len, "%s", m.data());
      return 1;
    }
  }
  return 0;
}

#define threadIdx (rf_dim3{rf_sim::group().current->tid, 0u, 0u})
#define blockIdx (rf_sim::group().block_idx)
#define gridDim (rf_sim::group().grid_dim)

RF_DEVICE void __syncthreads() { rf_sim::sync_block(); }
// Kernels run one after another: nothing to wait for (see prelude/nvidia.h).
RF_DEVICE void rf_wait_prior_kernels() {}
// Workgroups run on several threads: a device-scope fence is a thread fence.
RF_DEVICE void rf_device_fence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
RF_DEVICE int rf_lane_id() { return (int)(rf_sim::group().current->tid % WAVE_SIZE); }
RF_DEVICE int __shfl_xor(int v, int mask) { return rf_sim::shfl_xor(v, mask); }
RF_DEVICE float __shfl_xor(float v, int mask) {
  return __builtin_bit_cast(float, rf_sim::shfl_xor(__builtin_bit_cast(int, v), mask));
}
// An emulated wave's lanes wait for each other here (`partials/amd_matrix.hip.j2`).
RF_DEVICE void rf_emulated_wave_sync() { rf_sim::sync_wave(); }

RF_DEVICE float rf_exp2f(float x) { return __builtin_exp2f(x); }
RF_DEVICE float rsqrtf(float x) { return 1.0f / __builtin_sqrtf(x); }

// c + the dot product of a's and b's four signed bytes.
RF_DEVICE int rf_dot4(int a, int b, int c) {
  for (int i = 0; i < 4; ++i) c += (int)(int8_t)(a >> 8 * i) * (int)(int8_t)(b >> 8 * i);
  return c;
}
// Byte k of the result is byte (sel >> 8k) & 7 of the 8 bytes hi:lo.
RF_DEVICE unsigned rf_perm8(unsigned hi, unsigned lo, unsigned sel) {
  const uint64_t bytes = (uint64_t)hi << 32 | lo;
  unsigned r = 0;
  for (int k = 0; k < 4; ++k) r |= (unsigned)(bytes >> 8 * ((sel >> 8 * k) & 7) & 0xFF) << 8 * k;
  return r;
}

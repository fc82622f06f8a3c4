// The ceiling of the decode mat-vec's structure on an NVIDIA GPU (scripts/gpu-bounds.sh runs it).
// A decode step is a chain of dependent launches (programmatic dependent launch): a kernel may
// issue its weight loads before it waits for the kernel before it, and must do everything that
// reads that kernel's output after. For each byte count given, this times chains of a kernel
// that only reads that many bytes (16-byte loads, all issued before the wait, XORed, nothing
// written), once waiting as the mat-vec must and once not waiting at all, cycling through copies
// of the bytes larger than the L2 cache as `bench-kernels` does. What the dependent chain reaches
// is what a mat-vec of that size could reach if its arithmetic and its activations were free.
// Build: nvcc -O3 -arch=sm_90a -o gpu-bounds scripts/gpu-bounds.cu    Usage: gpu-bounds BYTES...
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                                   \
  do {                                                                             \
    cudaError_t e = (x);                                                           \
    if (e != cudaSuccess) {                                                        \
      fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e));   \
      exit(1);                                                                     \
    }                                                                              \
  } while (0)

constexpr int kThreads = 256;
constexpr int kRepeat = 100;        // launches per captured graph, as bench-kernels
constexpr int kTrials = 5;          // timed replays; the median is reported
constexpr size_t kRotation = 256ull << 20;  // bytes of copies cycled through (H200 L2: 60 MB)

// LOADS 16-byte loads a thread, issued before the wait when WAIT (which also lets the next
// launch begin, as the engine's kernels do), then XORed; `sink` is written only if the XOR hits
// a value the data never gives, so the loads cannot be removed.
template <int LOADS, bool WAIT>
__global__ void __launch_bounds__(kThreads) read_chain(const uint4* data, long long n16, unsigned* sink) {
  const long long i0 = (long long)blockIdx.x * kThreads * LOADS + threadIdx.x;
  uint4 v[LOADS];
#pragma unroll
  for (int k = 0; k < LOADS; ++k) v[k] = i0 + k * kThreads < n16 ? data[i0 + k * kThreads] : make_uint4(0, 0, 0, 0);
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  if (WAIT) asm volatile("griddepcontrol.wait;" ::: "memory");
  unsigned x = 0;
#pragma unroll
  for (int k = 0; k < LOADS; ++k) x ^= v[k].x ^ v[k].y ^ v[k].z ^ v[k].w;
  if (x == 0x9E3779B9u) *sink = x;
}

typedef void (*ReadKernel)(const uint4*, long long, unsigned*);

void launch(ReadKernel k, int loads, const uint4* data, long long n16, unsigned* sink, cudaStream_t s) {
  cudaLaunchConfig_t c = {};
  c.gridDim = dim3((unsigned)((n16 + (long long)kThreads * loads - 1) / ((long long)kThreads * loads)));
  c.blockDim = dim3(kThreads);
  c.stream = s;
  cudaLaunchAttribute overlap[1];
  overlap[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap[0].val.programmaticStreamSerializationAllowed = 1;
  c.attrs = overlap;
  c.numAttrs = 1;
  CHECK(cudaLaunchKernelEx(&c, k, data, n16, sink));
}

// Microseconds a launch in a captured chain of kRepeat, the launch given its index.
template <typename F>
double time_chain(F&& launch_at) {
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  launch_at(s, 0);
  CHECK(cudaStreamSynchronize(s));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < kRepeat; ++i) launch_at(s, i);
  CHECK(cudaStreamEndCapture(s, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, end;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&end));
  CHECK(cudaGraphLaunch(exec, s));  // warm-up
  std::vector<double> us;
  for (int t = 0; t < kTrials; ++t) {
    CHECK(cudaEventRecord(start, s));
    CHECK(cudaGraphLaunch(exec, s));
    CHECK(cudaEventRecord(end, s));
    CHECK(cudaEventSynchronize(end));
    float ms;
    CHECK(cudaEventElapsedTime(&ms, start, end));
    us.push_back(ms * 1e3 / kRepeat);
  }
  std::sort(us.begin(), us.end());
  CHECK(cudaEventDestroy(start));
  CHECK(cudaEventDestroy(end));
  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(graph));
  CHECK(cudaStreamDestroy(s));
  return us[kTrials / 2];
}

// The device-to-device copy rate (read plus written), bench-kernels' yardstick.
double copy_rate(size_t bytes) {
  void *a, *b;
  CHECK(cudaMalloc(&a, bytes));
  CHECK(cudaMalloc(&b, bytes));
  cudaEvent_t start, end;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&end));
  std::vector<double> ms;
  for (int t = 0; t <= kTrials; ++t) {  // the first warms up
    CHECK(cudaEventRecord(start));
    for (int i = 0; i < 2; ++i) CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
    CHECK(cudaEventRecord(end));
    CHECK(cudaEventSynchronize(end));
    float m;
    CHECK(cudaEventElapsedTime(&m, start, end));
    if (t > 0) ms.push_back(m / 2);
  }
  std::sort(ms.begin(), ms.end());
  CHECK(cudaFree(a));
  CHECK(cudaFree(b));
  return 2.0 * bytes / (ms[kTrials / 2] * 1e-3);
}

struct Best {
  double us = 1e30;
  int loads = 0;
};

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s BYTES...\n", argv[0]);
    return 2;
  }
  const double copy = copy_rate(1ull << 30);
  printf("copy %.0f GB/s\n", copy / 1e9);
  unsigned* sink;
  CHECK(cudaMalloc(&sink, sizeof(unsigned)));
  const struct {
    int loads;
    ReadKernel wait, free;
  } shapes[] = {{2, read_chain<2, true>, read_chain<2, false>},
                {4, read_chain<4, true>, read_chain<4, false>},
                {8, read_chain<8, true>, read_chain<8, false>}};
  printf("%12s %12s %8s %12s %8s %6s\n", "bytes", "dependent_us", "share", "overlapped_us", "share", "loads");
  for (int a = 1; a < argc; ++a) {
    const long long n16 = std::max(1ll, atoll(argv[a]) / 16);
    const size_t bytes = n16 * 16;
    std::vector<uint4*> copies((kRotation + bytes - 1) / bytes);
    for (auto& c : copies) {
      CHECK(cudaMalloc(&c, bytes));
      CHECK(cudaMemset(c, 0x5A, bytes));
    }
    Best dependent, overlapped;
    for (const auto& sh : shapes) {
      const double w = time_chain([&](cudaStream_t s, int i) { launch(sh.wait, sh.loads, copies[i % copies.size()], n16, sink, s); });
      const double f = time_chain([&](cudaStream_t s, int i) { launch(sh.free, sh.loads, copies[i % copies.size()], n16, sink, s); });
      if (w < dependent.us) dependent = {w, sh.loads};
      if (f < overlapped.us) overlapped = {f, sh.loads};
    }
    const auto share = [&](double us) { return 100.0 * bytes / (us * 1e-6) / copy; };
    printf("%12zu %12.2f %7.0f%% %12.2f %7.0f%% %6d\n", bytes, dependent.us, share(dependent.us), overlapped.us,
           share(overlapped.us), dependent.loads);
    for (auto c : copies) CHECK(cudaFree(c));
  }
  CHECK(cudaFree(sink));
  return 0;
}

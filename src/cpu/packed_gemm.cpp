#include "cpu/packed_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "cpu/packed_gemm_kernel.h"
#include "vconv/error.h"

namespace vconv::cpu {
namespace {

// The reduction's block: a panel's slice of kDepthBlock x kPanelWidth floats is 16 KiB.
constexpr int64_t kDepthBlock = 256;
// Bytes of A per row block: an eighth of the development machine's 512 KiB L2, which also holds
// every panel of B and the block's rows of C (32, 64, 128, 256 KiB: 90, 92, 89, 84 GFLOP/s on
// a 9216 x 256 x 256 product, 1 thread).
constexpr int64_t kRowBlockBytes = int64_t{64} << 10;

// The portable kernel: the SIMD kernels' order of sums without fused multiply-adds (the build
// forms none), in 4-float vectors (GCC's vector extensions: SSE2 on baseline x86-64, NEON on
// Arm), 3 rows at a time: 12 accumulators, a broadcast and a vector of B fill 14 of 16 registers.
typedef float Lanes4 __attribute__((vector_size(16)));

struct Portable {
  using Vec = Lanes4;
  static constexpr int kLanes = 4;
  static constexpr int kRows = 3;
  static Vec zero() { return Vec{}; }
  static Vec load(const float* p) {
    Vec v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  static Vec broadcast(const float* p) { return Vec{} + *p; }
  static Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
  static Vec add(Vec a, Vec b) { return a + b; }
  static void store(float* p, Vec v) { std::memcpy(p, &v, sizeof(v)); }
};
static_assert(kBlockRows % Portable::kRows == 0, "callers' row multiples must fill its blocks");

}  // namespace

void gemm_panel_portable(const PanelCall& p) {
  kernel::panel<Portable>(p);
}

bool gemm_kernel_runs(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::portable:
      return true;
#if defined(VCONV_CPU_X86_KERNELS)
    case GemmKernel::avx2_fma: {
      static const bool runs = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
      return runs;
    }
    case GemmKernel::avx512: {
      static const bool runs = __builtin_cpu_supports("avx512f");
      return runs;
    }
#endif
    default:
      return false;
  }
}

GemmKernel best_gemm_kernel() {
  for (GemmKernel k : {GemmKernel::avx512, GemmKernel::avx2_fma})
    if (gemm_kernel_runs(k)) return k;
  return GemmKernel::portable;
}

GemmKernel default_gemm_kernel() {
  // Read once; a bad value fails every call, not only the first.
  struct Choice {
    GemmKernel kernel = GemmKernel::portable;
    std::string error;  // empty when `kernel` is usable
  };
  static const Choice chosen = [] {
    Choice c;
    const char* env = std::getenv("VCONV_CPU_GEMM_KERNEL");
    const std::string name = env ? env : "";
    if (name.empty()) {
      c.kernel = best_gemm_kernel();
      return c;
    }
    c.error = "VCONV_CPU_GEMM_KERNEL: '" + name + "'";
    for (GemmKernel k : {GemmKernel::portable, GemmKernel::avx2_fma, GemmKernel::avx512})
      if (name == to_string(k)) {
        c.kernel = k;
        c.error = gemm_kernel_runs(k) ? std::string() : c.error + " does not run on this CPU";
        return c;
      }
    c.error += " is not a kernel; expected portable, avx2_fma or avx512";
    return c;
  }();
  if (!chosen.error.empty()) throw Error(chosen.error);
  return chosen.kernel;
}

const char* to_string(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::avx2_fma:
      return "avx2_fma";
    case GemmKernel::avx512:
      return "avx512";
    default:
      return "portable";
  }
}

int64_t packed_b_floats(int64_t k, int64_t n) {
  return (n + kPanelWidth - 1) / kPanelWidth * k * kPanelWidth;
}

void pack_b(int64_t k, int64_t n, const float* b, int64_t ldb, float* packed) {
  for (int64_t j0 = 0; j0 < n; j0 += kPanelWidth) {
    const int64_t cols = std::min(kPanelWidth, n - j0);
    for (int64_t kk = 0; kk < k; ++kk) {
      float* row = packed + packed_b_offset(k, kk, j0);
      std::copy(b + kk * ldb + j0, b + kk * ldb + j0 + cols, row);
      std::fill(row + cols, row + kPanelWidth, 0.0f);
    }
  }
}

void gemm_packed_b(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                   const float* packed_b, float* c, int64_t ldc, bool accumulate,
                   GemmKernel kernel) {
  if (!gemm_kernel_runs(kernel))
    throw Error(std::string("gemm_packed_b: kernel ") + to_string(kernel) +
                " does not run on this CPU");
  void (*panel)(const PanelCall&) = gemm_panel_portable;
#if defined(VCONV_CPU_X86_KERNELS)
  if (kernel == GemmKernel::avx2_fma) panel = gemm_panel_avx2_fma;
  if (kernel == GemmKernel::avx512) panel = gemm_panel_avx512;
#endif
  // Blocks of kDepthBlock along k; in each, blocks of rows whose slice of A stays in L2 (about
  // kRowBlockBytes); in each, panel by panel: the panel's slice (16 KiB) stays in L1 while the
  // row block streams past. Each k block's sums start from zero and are then added to C: a long
  // reduction's error grows with kDepthBlock + k / kDepthBlock terms rather than k (at k = 4608,
  // fp32, one sequential sum failed MLX's atol = rtol = 1e-4 where this passes;
  // docs/PERFORMANCE.md, "Accuracy").
  for (int64_t k0 = 0; k0 < k || k0 == 0; k0 += kDepthBlock) {
    const int64_t depth = std::min(kDepthBlock, k - k0);
    const int64_t rows =
        std::max<int64_t>(1, kRowBlockBytes / (4 * std::max<int64_t>(depth, 1)) / kBlockRows) *
        kBlockRows;
    for (int64_t i0 = 0; i0 < m; i0 += rows)
      for (int64_t j0 = 0; j0 < n; j0 += kPanelWidth)
        panel({std::min(rows, m - i0), depth, std::min(kPanelWidth, n - j0), a + i0 * lda + k0, lda,
               packed_b + packed_b_offset(k, k0, j0), c + i0 * ldc + j0, ldc,
               accumulate || k0 > 0});
  }
}

}  // namespace vconv::cpu

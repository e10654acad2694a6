#include "cpu/packed_gemm.h"

#include <algorithm>

#include <string>

#include "vconv/error.h"

namespace vconv::cpu {
namespace {

// The portable kernel: the AVX2 one's order of sums, without fused multiply-adds (the build
// forms none), 4 rows at a time so that the compiler keeps the sums in vector registers.
constexpr int kPortableRows = 4;

template <int R>
void portable_rows(const PanelCall& p, const float* a, float* c) {
  float acc[R][kPanelWidth] = {};
  const float* b = p.b;
  for (int64_t kk = 0; kk < p.k; ++kk, b += kPanelWidth)
    for (int r = 0; r < R; ++r) {
      const float x = a[r * p.lda + kk];
      for (int j = 0; j < kPanelWidth; ++j) acc[r][j] += x * b[j];
    }
  for (int r = 0; r < R; ++r)
    for (int64_t j = 0; j < p.cols; ++j) {
      float& y = c[r * p.ldc + j];
      y = p.accumulate ? y + acc[r][j] : acc[r][j];
    }
}

}  // namespace

void gemm_panel_portable(const PanelCall& p) {
  int64_t r0 = 0;
  for (; r0 + kPortableRows <= p.m; r0 += kPortableRows)
    portable_rows<kPortableRows>(p, p.a + r0 * p.lda, p.c + r0 * p.ldc);
  for (; r0 < p.m; ++r0) portable_rows<1>(p, p.a + r0 * p.lda, p.c + r0 * p.ldc);
}

GemmKernel best_gemm_kernel() {
#if defined(VCONV_CPU_AVX2_KERNEL)
  static const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2_fma) return GemmKernel::avx2_fma;
#endif
  return GemmKernel::portable;
}

const char* to_string(GemmKernel kernel) {
  return kernel == GemmKernel::avx2_fma ? "avx2_fma" : "portable";
}

int64_t packed_b_floats(int64_t k, int64_t n) {
  return (n + kPanelWidth - 1) / kPanelWidth * k * kPanelWidth;
}

void pack_b(int64_t k, int64_t n, const float* b, int64_t ldb, float* packed) {
  for (int64_t j0 = 0; j0 < n; j0 += kPanelWidth) {
    const int64_t cols = std::min(kPanelWidth, n - j0);
    for (int64_t kk = 0; kk < k; ++kk, packed += kPanelWidth) {
      std::copy(b + kk * ldb + j0, b + kk * ldb + j0 + cols, packed);
      std::fill(packed + cols, packed + kPanelWidth, 0.0f);
    }
  }
}

void gemm_packed_b(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                   const float* packed_b, float* c, int64_t ldc, bool accumulate,
                   GemmKernel kernel) {
  if (kernel != GemmKernel::portable && kernel != best_gemm_kernel())
    throw Error(std::string("gemm_packed_b: kernel ") + to_string(kernel) +
                " does not run on this CPU");
#if defined(VCONV_CPU_AVX2_KERNEL)
  void (*panel)(const PanelCall&) =
      kernel == GemmKernel::avx2_fma ? gemm_panel_avx2_fma : gemm_panel_portable;
#else
  (void)kernel;
  void (*panel)(const PanelCall&) = gemm_panel_portable;
#endif
  // Panel by panel: the panel (k x 16 floats) stays in L1 while every row block of A streams past.
  for (int64_t j0 = 0; j0 < n; j0 += kPanelWidth)
    panel(
        {m, k, std::min(kPanelWidth, n - j0), a, lda, packed_b + j0 * k, c + j0, ldc, accumulate});
}

}  // namespace vconv::cpu

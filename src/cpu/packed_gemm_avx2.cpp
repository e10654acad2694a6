// The packed GEMM's AVX2 + FMA kernel (packed_gemm_kernel.h): 6 rows x 16 columns of C in 12
// accumulators, which with 2 vectors of B and a broadcast fill 15 of the 16 registers; two FMA
// pipes of 4-cycle latency need at least 8 independent sums. Compiled with -mavx2 -mfma
// (CMakeLists.txt) and called only where the CPU has both (gemm_kernel_runs()).
#include <immintrin.h>

#include "cpu/packed_gemm_kernel.h"

namespace vconv::cpu {
namespace {

struct Avx2Fma {
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kRows = 6;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
};
static_assert(kBlockRows % Avx2Fma::kRows == 0, "callers' row multiples must fill its blocks");

}  // namespace

void gemm_panel_avx2_fma(const PanelCall& p) {
  kernel::panel<Avx2Fma>(p);
}

}  // namespace vconv::cpu

// The packed GEMM's AVX-512 kernel (packed_gemm_kernel.h): 12 rows x 16 columns of C in 12
// accumulators of one vector each (a panel is one AVX-512 vector wide), enough independent sums
// for two FMA pipes of 4-cycle latency, in 14 of the 32 registers. Compiled with -mavx512f
// (CMakeLists.txt) and called only where the CPU has it (gemm_kernel_runs()).
#include <immintrin.h>

#include "cpu/packed_gemm_kernel.h"

namespace vconv::cpu {
namespace {

struct Avx512 {
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kRows = 12;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
};
static_assert(kBlockRows % Avx512::kRows == 0, "callers' row multiples must fill its blocks");

}  // namespace

void gemm_panel_avx512(const PanelCall& p) {
  kernel::panel<Avx512>(p);
}

}  // namespace vconv::cpu

// The packed GEMM's AVX2 + FMA kernel: 6 rows x 16 columns of C in 12 accumulators, A broadcast
// from its rows in place, B's panel read two vectors per k. Compiled with -mavx2 -mfma
// (CMakeLists.txt) and called only where the CPU has both (best_gemm_kernel()). It includes no
// library header with inline code (see packed_gemm_panel.h).
#include <immintrin.h>

#include "cpu/packed_gemm_panel.h"

namespace vconv::cpu {
namespace {

// Six rows (kBlockRows) keep 12 accumulators, 2 vectors of B and a broadcast in 15 of the 16
// registers; two FMA pipes of 4-cycle latency need at least 8 independent sums.
constexpr int kRows = kBlockRows;

template <int R>
void rows(const PanelCall& p, const float* a, float* c) {
  // The call's fields in locals: stores through c could alias p as far as GCC knows.
  const int64_t k = p.k, lda = p.lda, ldc = p.ldc, cols = p.cols;
  const float* row[R];
  // The row loops are unrolled before GCC decides where acc lives, else it keeps a copy of the
  // sums on the stack, stored at every k.
  __m256 acc[R][2];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    row[r] = a + r * lda;
    acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  }
  const float* b = p.b;
  // A's next 6 rows (the next call's, or past the row block the next block's), one cache line per
  // row every 16 steps of k, ahead of their use: the first panel over rows of A otherwise waits on
  // them from memory (1 thread, 9216 x 256 x 256: 91 -> 94 GFLOP/s). A prefetch never faults, so
  // the rows past A's end cost nothing.
  const float* next = a + R * lda;
  for (int64_t k0 = 0; k0 < k; k0 += 16) {
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r)
      _mm_prefetch(reinterpret_cast<const char*>(next + r * lda + k0), _MM_HINT_T0);
    const int64_t k1 = k0 + 16 < k ? k0 + 16 : k;
#pragma GCC unroll 2
    for (int64_t kk = k0; kk < k1; ++kk, b += kPanelWidth) {
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
      for (int r = 0; r < R; ++r) {
        const __m256 x = _mm256_broadcast_ss(row[r] + kk);
        acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
      }
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    if (cols == kPanelWidth) {
      if (p.add_to_c) {
        acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(cr));
        acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(cr + 8));
      }
      _mm256_storeu_ps(cr, acc[r][0]);
      _mm256_storeu_ps(cr + 8, acc[r][1]);
    } else {
      float out[kPanelWidth];
      _mm256_storeu_ps(out, acc[r][0]);
      _mm256_storeu_ps(out + 8, acc[r][1]);
      for (int64_t j = 0; j < cols; ++j) cr[j] = p.add_to_c ? cr[j] + out[j] : out[j];
    }
  }
}

}  // namespace

void gemm_panel_avx2_fma(const PanelCall& p) {
  int64_t r0 = 0;
  for (; r0 + kRows <= p.m; r0 += kRows) rows<kRows>(p, p.a + r0 * p.lda, p.c + r0 * p.ldc);
  const float* a = p.a + r0 * p.lda;
  float* c = p.c + r0 * p.ldc;
  switch (p.m - r0) {
    case 5:
      return rows<5>(p, a, c);
    case 4:
      return rows<4>(p, a, c);
    case 3:
      return rows<3>(p, a, c);
    case 2:
      return rows<2>(p, a, c);
    case 1:
      return rows<1>(p, a, c);
    default:
      return;
  }
}

}  // namespace vconv::cpu

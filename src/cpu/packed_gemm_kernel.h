#pragma once
// The packed GEMM's kernel, written once over a vector type's operations and instantiated by
// each ISA's file (packed_gemm_avx2.cpp, packed_gemm_avx512.cpp, the only files compiled for that
// ISA) and, for the portable kernel, by packed_gemm.cpp. V provides: Vec, kLanes (floats per Vec,
// dividing kPanelWidth), kRows (rows of C per block), zero(), load(p), broadcast(p),
// fma(a, b, c) = a * b + c (rounded once where the ISA has FMA, twice in the portable kernel),
// add(a, b), store(p, v). Each ISA's traits type lies in its file's anonymous namespace, so every
// instantiation of these templates is internal to that file: none can be linked into a caller
// compiled for another ISA (see packed_gemm_panel.h).
//
// A block of R rows x kPanelWidth columns of C stays in R x kPanelWidth / kLanes accumulators
// while k runs: per step, the panel's row of B in kPanelWidth / kLanes vectors and one broadcast
// per row of A, read in place through its row stride.
#include <cstdint>

#include "cpu/packed_gemm_panel.h"

namespace vconv::cpu::kernel {

template <class V, int R>
void rows(const PanelCall& p, const float* a, float* c) {
  constexpr int kVecs = static_cast<int>(kPanelWidth) / V::kLanes;
  // The call's fields in locals: stores through c could alias p as far as GCC knows.
  const int64_t k = p.k, lda = p.lda, ldc = p.ldc, cols = p.cols;
  const float* row[R];
  // The row loops are unrolled before GCC decides where acc lives, else it keeps a copy of the
  // sums on the stack, stored at every k.
  typename V::Vec acc[R][kVecs];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    row[r] = a + r * lda;
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) acc[r][v] = V::zero();
  }
  const float* b = p.b;
  // A's next R rows (the next call's, or past the row block the next block's), one cache line per
  // row every 16 steps of k, ahead of their use: the first panel over rows of A otherwise waits on
  // them from memory (AVX2, 1 thread, 9216 x 256 x 256: 91 -> 94 GFLOP/s). A prefetch never
  // faults, so the rows past A's end cost nothing; their addresses are formed as integers, as a
  // pointer past an array's end is undefined in C++.
  const uintptr_t first = reinterpret_cast<uintptr_t>(a);
  const uintptr_t row_bytes = static_cast<uintptr_t>(lda) * sizeof(float);
  for (int64_t k0 = 0; k0 < k; k0 += 16) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      __builtin_prefetch(
          reinterpret_cast<const void*>(first + (R + r) * row_bytes + k0 * sizeof(float)), 0, 3);
    const int64_t k1 = k0 + 16 < k ? k0 + 16 : k;
#pragma GCC unroll 2
    for (int64_t kk = k0; kk < k1; ++kk, b += kPanelWidth) {
      typename V::Vec bv[kVecs];
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) bv[v] = V::load(b + v * V::kLanes);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const typename V::Vec x = V::broadcast(row[r] + kk);
#pragma GCC unroll 4
        for (int v = 0; v < kVecs; ++v) acc[r][v] = V::fma(x, bv[v], acc[r][v]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    if (cols == kPanelWidth) {
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) {
        float* cv = cr + v * V::kLanes;
        V::store(cv, p.add_to_c ? V::add(acc[r][v], V::load(cv)) : acc[r][v]);
      }
    } else {
      float out[kPanelWidth];
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) V::store(out + v * V::kLanes, acc[r][v]);
      for (int64_t j = 0; j < cols; ++j) cr[j] = p.add_to_c ? cr[j] + out[j] : out[j];
    }
  }
}

// The last m % kRows rows, through the block of exactly that many.
template <class V, int R>
void tail_rows(const PanelCall& p, int64_t count, const float* a, float* c) {
  if constexpr (R > 0) {
    if (count == R) return rows<V, R>(p, a, c);
    tail_rows<V, R - 1>(p, count, a, c);
  }
}

template <class V>
void panel(const PanelCall& p) {
  int64_t r0 = 0;
  for (; r0 + V::kRows <= p.m; r0 += V::kRows)
    rows<V, V::kRows>(p, p.a + r0 * p.lda, p.c + r0 * p.ldc);
  tail_rows<V, V::kRows - 1>(p, p.m - r0, p.a + r0 * p.lda, p.c + r0 * p.ldc);
}

}  // namespace vconv::cpu::kernel

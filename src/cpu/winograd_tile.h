#pragma once
// Winograd's tile transforms over channels-last tiles: out = L in L^T, where in is a K x K tile
// and out an R x R one, each element a run of n channels (in[k][j] at src[k * K + j], out[r][q]
// at dst[r * R + q]). Input (L = B^T) and output (L = A^T) transforms alike, in one pass over
// the channels: 8 channels at a time in vector registers (GCC's vector extensions: one AVX2
// register, two SSE ones, in whichever ISA clone inlines this), the tail one at a time.
//
// L's coefficients are compile-time constants and the loops are unrolled, so that zero
// coefficients cost nothing and +-1 ones leave a bare add or subtract. Each sum starts from its
// first nonzero term and adds the others in k order, rounding as the two-pass form
// (sum_k L[r][k] * x_k from zero) did, up to the sign of a zero.
#include <cstdint>
#include <cstring>

namespace vconv::cpu {

typedef float Lanes8 __attribute__((vector_size(32)));

// s = sum_k coef[k] * x[k * step], over the nonzero coefficients. Vectors pass by reference
// only: passed or returned by value they would change the ABI between ISA clones (-Wpsabi).
template <int K, class T>
[[gnu::always_inline]] inline void linear_combination(const float (&coef)[K], const T* x, int step,
                                                      T& s) {
  bool first = true;
#pragma GCC unroll 8
  for (int k = 0; k < K; ++k) {
    if (coef[k] == 0) continue;
    const T term = coef[k] == 1    ? x[k * step]
                   : coef[k] == -1 ? -x[k * step]
                                   : coef[k] * x[k * step];
    s = first ? term : s + term;
    first = false;
  }
}

template <int R, int K, class T>
[[gnu::always_inline]] inline void sandwich_at(const float (&L)[R][K], const float* const* src,
                                               float* const* dst, int64_t c) {
  T in[K][K], half[R][K];
#pragma GCC unroll 8
  for (int k = 0; k < K; ++k)
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) std::memcpy(&in[k][j], src[k * K + j] + c, sizeof(T));
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) linear_combination<K>(L[r], &in[0][j], K, half[r][j]);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int q = 0; q < R; ++q) {
      T y;
      linear_combination<K>(L[q], half[r], 1, y);
      std::memcpy(dst[r * R + q] + c, &y, sizeof(T));
    }
}

template <int R, int K>
[[gnu::always_inline]] inline void sandwich(const float (&L)[R][K], const float* const* src,
                                            float* const* dst, int64_t n) {
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) sandwich_at<R, K, Lanes8>(L, src, dst, c);
  for (; c < n; ++c) sandwich_at<R, K, float>(L, src, dst, c);
}

}  // namespace vconv::cpu

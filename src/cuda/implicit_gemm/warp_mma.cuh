#pragma once
// One warp's share of a pipeline stage: A and B fragments read from shared memory with ldmatrix,
// multiplied with mma.sync into the warp's fp32 accumulators, k step by k step.
#include "cuda/implicit_gemm/ptx_sm80.cuh"
#include "cuda/implicit_gemm/tile_config.h"

namespace vconv::cuda::implicit_gemm {

// The A and B fragments of k step `ks` (one MMA deep: two 16-byte chunks of a row, 16 bf16/f16
// or 8 fp32). `a` is the warp's first A row in the stage, `b` its first B row (output channel).
template <typename C, typename E>
__device__ inline void load_fragments(const E* a, const E* b, int ks, uint32_t (&af)[C::kMI][4],
                                      uint32_t (&bf)[C::kNI][2]) {
  using T = Tile<C, E>;
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int mi = 0; mi < C::kMI; ++mi)
    ldmatrix_x4(af[mi], a + (mi * 16 + lane % 16) * T::kLds + ks + (lane / 16) * T::kChunk);
#pragma unroll
  for (int nj = 0; nj < C::kNI / 2; ++nj) {
    uint32_t r[4];
    ldmatrix_x4(r, b + (nj * 16 + lane % 8 + (lane / 16) * 8) * T::kLds + ks +
                       ((lane / 8) % 2) * T::kChunk);
    bf[2 * nj][0] = r[0];
    bf[2 * nj][1] = r[1];
    bf[2 * nj + 1][0] = r[2];
    bf[2 * nj + 1][1] = r[3];
  }
}

template <typename C, typename Mma>
__device__ inline void multiply(uint32_t (&af)[C::kMI][4], uint32_t (&bf)[C::kNI][2],
                                float (&acc)[C::kMI][C::kNI][4]) {
  if constexpr (Mma::kSplit) {
    uint32_t bs[C::kNI][2];
#pragma unroll
    for (int ni = 0; ni < C::kNI; ++ni)
      for (int j = 0; j < 2; ++j) Mma::split(bf[ni][j], bs[ni][j]);
#pragma unroll
    for (int mi = 0; mi < C::kMI; ++mi) {
      uint32_t as[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) Mma::split(af[mi][j], as[j]);
#pragma unroll
      for (int ni = 0; ni < C::kNI; ++ni) {
        // The tensor core truncates when it adds to its accumulator; summed into the running
        // total that way over thousands of k steps, the bias reaches 1e-4. Each k step starts
        // from zero instead and is added with a rounding fp32 add.
        float step[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        Mma::mma(step, as, bf[ni][0], bf[ni][1]);
        Mma::mma(step, af[mi], bs[ni][0], bs[ni][1]);
        Mma::mma(step, af[mi], bf[ni][0], bf[ni][1]);
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[mi][ni][j] += step[j];
      }
    }
  } else {
#pragma unroll
    for (int mi = 0; mi < C::kMI; ++mi)
      for (int j = 0; j < 4; ++j) Mma::convert(af[mi][j]);
#pragma unroll
    for (int ni = 0; ni < C::kNI; ++ni)
      for (int j = 0; j < 2; ++j) Mma::convert(bf[ni][j]);
#pragma unroll
    for (int mi = 0; mi < C::kMI; ++mi)
#pragma unroll
      for (int ni = 0; ni < C::kNI; ++ni) Mma::mma(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
  }
}

// The k steps of one stage, the fragments of step s + 1 loaded before step s multiplies (the
// asm statements keep their order, so this is what puts ldmatrix latency under the MMAs).
template <typename C, typename E, typename Mma>
__device__ inline void multiply_stage(const E* a, const E* b, float (&acc)[C::kMI][C::kNI][4]) {
  constexpr int kSteps = Tile<C, E>::kBK / Mma::kK;
  uint32_t af[2][C::kMI][4], bf[2][C::kNI][2];
  load_fragments<C>(a, b, 0, af[0], bf[0]);
#pragma unroll
  for (int s = 0; s < kSteps; ++s) {
    if (s + 1 < kSteps)
      load_fragments<C>(a, b, (s + 1) * Mma::kK, af[(s + 1) % 2], bf[(s + 1) % 2]);
    multiply<C, Mma>(af[s % 2], bf[s % 2], acc);
  }
}

}  // namespace vconv::cuda::implicit_gemm

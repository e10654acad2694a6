#pragma once
// One warpgroup's share of a pipeline stage on sm_90a: its 64 A rows by the stage's kBN output
// channels, multiplied with wgmma straight from the swizzled shared-memory tiles (no fragments
// in registers), k step by k step, and waited for before returning so that the stage can be
// refilled after the next barrier.
#include "cuda/implicit_gemm/ptx_sm90.cuh"
#include "cuda/implicit_gemm/tile_config.h"

namespace vconv::cuda::implicit_gemm {

template <typename C, typename Mma, typename E>
__device__ inline void multiply_stage_wgmma(const E* a, const E* b, float (&acc)[C::kNI][4]) {
  static_assert(C::kSwizzled && C::kBN == 128 && C::kNI == 16 && C::kMI == 1,
                "wgmma m64n128: 128-byte swizzled rows, 8 warps of 16 rows by 128 channels");
  constexpr int kSteps = Tile<C, E>::kBK / Mma::kK;
  // Within a 128-byte swizzled row the k step moves the start address (the hardware applies
  // the swizzle to the address it computes); 16-byte units.
  constexpr uint64_t kStepUnits = Mma::kK * sizeof(E) / 16;
  const uint64_t da = sw128_descriptor(a), db = sw128_descriptor(b);
  fence_accumulators(acc);
  wgmma_fence();
#pragma unroll
  for (int s = 0; s < kSteps; ++s) Mma::mma(acc, da + s * kStepUnits, db + s * kStepUnits);
  wgmma_commit();
  wgmma_wait<0>();
  fence_accumulators(acc);
}

}  // namespace vconv::cuda::implicit_gemm

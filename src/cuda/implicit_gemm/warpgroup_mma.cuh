#pragma once
// One warpgroup's share of a pipeline stage on sm_90a: its 64 A rows by the stage's kBN output
// channels, multiplied with wgmma straight from the swizzled shared-memory tiles (no fragments
// in registers), k step by k step, 128 output channels per instruction. The stage's MMAs are
// committed as one group, and on return at most kMmaInFlight groups (this stage's) are still
// running, so the stage multiplied before it can be refilled after the next barrier.
// The first stage's first MMA overwrites the accumulators instead of adding to them: zeroing them
// with ordinary instructions would make ptxas serialize every wgmma (warnings C7515/C7518).
#include "cuda/implicit_gemm/ptx_sm90.cuh"
#include "cuda/implicit_gemm/tile_config.h"

namespace vconv::cuda::implicit_gemm {

template <typename C, typename Mma, typename E>
__device__ inline void multiply_stage_wgmma(const E* a, const E* b, float (&acc)[C::kNI][4],
                                            bool first_stage) {
  static_assert(C::kSwizzled && C::kBN % 128 == 0 && C::kWN == C::kBN && C::kMI == 1,
                "wgmma m64n128: 128-byte swizzled rows, warps of 16 rows by all kBN channels");
  constexpr int kSteps = Tile<C, E>::kBK / Mma::kK;
  constexpr int kSlices = C::kBN / 128;  // 128-channel wgmma instructions per k step
  // Within a 128-byte swizzled row the k step moves the start address (the hardware applies
  // the swizzle to the address it computes); the next 128 output channels start 128 rows on.
  // Descriptor addresses are in 16-byte units.
  constexpr uint64_t kStepUnits = Mma::kK * sizeof(E) / 16;
  constexpr uint64_t kSliceUnits = 128 * C::kRowBytes / 16;
  const uint64_t da = sw128_descriptor(a), db = sw128_descriptor(b);
  fence_accumulators(acc);
  wgmma_fence();
#pragma unroll
  for (int s = 0; s < kSteps; ++s)
#pragma unroll
    for (int n = 0; n < kSlices; ++n)
      Mma::mma(*reinterpret_cast<float(*)[16][4]>(&acc[16 * n]), da + s * kStepUnits,
               db + n * kSliceUnits + s * kStepUnits, !first_stage || s > 0);
  wgmma_commit();
  wgmma_wait<C::kMmaInFlight>();
  fence_accumulators(acc);
}

}  // namespace vconv::cuda::implicit_gemm

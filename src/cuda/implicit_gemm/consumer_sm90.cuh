#pragma once
// A consumer warpgroup of the warp-specialized kernel: for each of its CTA's tiles, waits for
// each k-block's stage, multiplies its kWgRows A rows by all kBN B rows with wgmma straight from
// the swizzled stage (kMSlices m64 instructions of width kBN per k step), keeps one k-block's
// MMAs in flight and releases the stage before it, over the tile's k-blocks (counted as the
// producer counts them: tile_work); then the epilogue stores the tile. The first k-block of a tile
// writes the accumulators (scale-d = 0) instead of adding to zeroed ones (ptxas would serialize
// every wgmma after ordinary writes to its accumulators: warnings C7515/C7518).
#include "cuda/implicit_gemm/epilogue.cuh"
#include "cuda/implicit_gemm/mainloop.cuh"
#include "cuda/implicit_gemm/pipeline_sm90.cuh"
#include "cuda/implicit_gemm/tile_scheduler.cuh"

namespace vconv::cuda::implicit_gemm {

template <typename C, typename Mma, typename E>
__device__ inline void multiply_stage_ws(const E* a, const E* b,
                                         float (&acc)[C::kMSlices][C::kBN / 8][4], bool first) {
  constexpr int kSteps = Tile<C, E>::kBK / Mma::kK;
  // Descriptor addresses are in 16-byte units: the k step moves the start address within the
  // 128-byte swizzled rows (the hardware applies the swizzle), an m slice starts 64 rows on.
  constexpr uint64_t kStepUnits = Mma::kK * sizeof(E) / 16;
  constexpr uint64_t kSliceUnits = 64 * C::kRowBytes / 16;
  const uint64_t da = sw128_descriptor(a), db = sw128_descriptor(b);
#pragma unroll
  for (int m = 0; m < C::kMSlices; ++m) fence_accumulators(acc[m]);
  wgmma_fence();
#pragma unroll
  for (int s = 0; s < kSteps; ++s)
#pragma unroll
    for (int m = 0; m < C::kMSlices; ++m)
      Mma::mma(acc[m], da + m * kSliceUnits + s * kStepUnits, db + s * kStepUnits, !first || s > 0);
  wgmma_commit();
}

template <typename C, typename Mma, typename Out>
__device__ inline void consume(const Params& p, Pipeline<C::kStages>& pipe,
                               const typename Mma::Element* smem_a,
                               const typename Mma::Element* smem_b) {
  using E = typename Mma::Element;
  using T = Tile<C, E>;
  const int wg = threadIdx.x / 128 - 1;  // this consumer's row slice of the tile
  const TileScheduler<C::kBM, C::kBN> sched(p);
  float acc[C::kMSlices][C::kBN / 8][4];
  const int cblocks = static_cast<int>((p.geo.cg + T::kBK - 1) / T::kBK);
  int64_t kb = 0;  // k-blocks consumed by this CTA so far
  for (int64_t tile = blockIdx.x; tile < sched.count; tile += gridDim.x) {
    const TileCoord t = sched.coord(tile);
    // The producer computes the same k-block count (tile_work: at least one per tile).
    const int kblocks = tile_work(p, t.m0, C::kBM, cblocks, true).kblocks;
    for (int i = 0; i < kblocks; ++i, ++kb) {
      pipe.wait_full(kb);
      const int stage = Pipeline<C::kStages>::stage(kb);
      // The A rows were written through the generic proxy (cp.async); wgmma reads the async one.
      fence_proxy_async();
      multiply_stage_ws<C, Mma>(smem_a + (stage * C::kBM + wg * C::kWgRows) * T::kLds,
                                smem_b + stage * C::kBN * T::kLds, acc, i == 0);
      wgmma_wait<1>();  // the previous k-block's MMAs have completed
      if (i > 0) pipe.release(kb - 1);
    }
    wgmma_wait<0>();
#pragma unroll
    for (int m = 0; m < C::kMSlices; ++m) fence_accumulators(acc[m]);
    pipe.release(kb - 1);
    store_ws_tile<C, Out>(p, t, wg, acc);
  }
}

}  // namespace vconv::cuda::implicit_gemm

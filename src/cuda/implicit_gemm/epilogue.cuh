#pragma once
// The epilogue of the implicit-GEMM conv: fp32 accumulators through the fused epilogue
// (OutputRow, cuda/epilogue.cuh) to the output, one rounding to the output type (or fp32 kept
// as is for an accumulator buffer), accumulating when asked.
#include "cuda/epilogue.cuh"
#include "cuda/implicit_gemm/mainloop.cuh"
#include "cuda/implicit_gemm/tile_scheduler.cuh"

namespace vconv::cuda::implicit_gemm {

template <typename C, typename Out>
__device__ inline void store_tile(const Params& p, int64_t m0, int64_t n0, int64_t g,
                                  const float (&acc)[C::kMI][C::kNI][4]) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int wm = warp / C::kWarpsN, wn = warp % C::kWarpsN;
#pragma unroll
  for (int mi = 0; mi < C::kMI; ++mi)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int64_t row = m0 + wm * C::kWM + mi * 16 + lane / 4 + half * 8;
      if (row >= p.m) continue;
      int64_t n, od, oh, ow;
      decode_row(p.geo, row, n, od, oh, ow);
      const OutputRow<Out> out_row(p.out, p.epilogue, n, od, oh, ow, g * p.geo.og);
#pragma unroll
      for (int ni = 0; ni < C::kNI; ++ni)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int64_t col = n0 + wn * C::kWN + ni * 8 + (lane % 4) * 2 + e;
          if (col < p.geo.og) out_row.store(g * p.geo.og + col, acc[mi][ni][half * 2 + e]);
        }
    }
}

// The warp-specialized kernel's tile (kernel_ws.cuh): consumer warpgroup `wg` holds rows
// wg * kWgRows + 64 * m + 16 * (warp % 4) + lane / 4 (+ 8) of the tile in acc[m], columns
// 8 * j + 2 * (lane % 4) (+ 1) in acc[m][j] (wgmma's accumulator layout).
template <typename C, typename Out>
__device__ inline void store_ws_tile(const Params& p, const TileCoord& t, int wg,
                                     const float (&acc)[C::kMSlices][C::kBN / 8][4]) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32 % 4;
#pragma unroll
  for (int m = 0; m < C::kMSlices; ++m)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int64_t row = t.m0 + wg * C::kWgRows + 64 * m + 16 * warp + lane / 4 + 8 * half;
      if (row >= p.m) continue;
      int64_t n, od, oh, ow;
      decode_row(p.geo, row, n, od, oh, ow);
      const OutputRow<Out> out_row(p.out, p.epilogue, n, od, oh, ow, t.g * p.geo.og);
#pragma unroll
      for (int j = 0; j < C::kBN / 8; ++j) {
        const int64_t col = t.n0 + 8 * j + 2 * (lane % 4);
        if (col < p.geo.og)
          out_row.store_pair(t.g * p.geo.og + col, acc[m][j][2 * half], acc[m][j][2 * half + 1],
                             col + 1 < p.geo.og);
      }
    }
}

}  // namespace vconv::cuda::implicit_gemm

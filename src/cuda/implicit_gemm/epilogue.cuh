#pragma once
// The epilogue of the implicit-GEMM conv: fp32 accumulators through the fused epilogue
// (OutputRow, cuda/epilogue.cuh) to the output, one rounding to the output type (or fp32 kept
// as is for an accumulator buffer), accumulating when asked.
#include "cuda/epilogue.cuh"
#include "cuda/implicit_gemm/mainloop.cuh"
#include "cuda/implicit_gemm/tile_scheduler.cuh"

namespace vconv::cuda::implicit_gemm {

// A pair of kind `moved` (at the positions depth-to-space gives), not inlined: its index map per
// element, unrolled over a tile, would multiply the kernel's code several times over for convs
// that seldom ask for it.
template <typename Out>
__device__ __noinline__ void store_moved_pair(const Params& p, const int64_t (&at)[4],
                                              int64_t first, int64_t col, float v0, float v1) {
  const OutputRow<Out> out_row(p.out, p.epilogue, at[0], at[1], at[2], at[3], first);
  out_row.template store_pair<StoreKind::moved>(first + col, v0, v1, col + 1 < p.geo.og);
}

// A thread's accumulator fragment in the layout mma.sync (m16n8) and wgmma share: acc[i][j][2 *
// half + e] is output row row0 + i * row_step + 8 * half (rows past p.m are not stored) and
// column col0 + 8 * j + e of group g (columns past the group's output channels are not stored),
// stored the way kind K says.
template <StoreKind K, typename Out, int I, int J>
__device__ inline void store_fragment_as(const Params& p, int64_t g, int64_t row0, int row_step,
                                         int64_t col0, const float (&acc)[I][J][4]) {
  const int64_t first = g * p.geo.og;
#pragma unroll
  for (int i = 0; i < I; ++i)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int64_t row = row0 + i * row_step + 8 * half;
      if (row >= p.m) continue;
      int64_t at[4];
      decode_row(p.geo, row, at[0], at[1], at[2], at[3]);
      const OutputRow<Out> out_row(p.out, p.epilogue, at[0], at[1], at[2], at[3], first);
#pragma unroll
      for (int j = 0; j < J; ++j) {
        const int64_t col = col0 + 8 * j;
        if (col >= p.geo.og) continue;
        const float v0 = acc[i][j][2 * half], v1 = acc[i][j][2 * half + 1];
        if constexpr (K == StoreKind::moved)
          store_moved_pair<Out>(p, at, first, col, v0, v1);
        else
          out_row.template store_pair<K>(first + col, v0, v1, col + 1 < p.geo.og);
      }
    }
}

template <typename Out, int I, int J>
__device__ inline void store_fragment(const Params& p, int64_t g, int64_t row0, int row_step,
                                      int64_t col0, const float (&acc)[I][J][4]) {
  switch (store_kind(p.epilogue)) {
    case StoreKind::plain:
      return store_fragment_as<StoreKind::plain, Out>(p, g, row0, row_step, col0, acc);
    case StoreKind::fused:
      return store_fragment_as<StoreKind::fused, Out>(p, g, row0, row_step, col0, acc);
    case StoreKind::moved:
      return store_fragment_as<StoreKind::moved, Out>(p, g, row0, row_step, col0, acc);
  }
}

// The multistage kernels' tile: warp (wm, wn) holds rows wm * kWM + 16 * mi and columns
// wn * kWN + 8 * ni in acc[mi][ni].
template <typename C, typename Out>
__device__ inline void store_tile(const Params& p, int64_t m0, int64_t n0, int64_t g,
                                  const float (&acc)[C::kMI][C::kNI][4]) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int wm = warp / C::kWarpsN, wn = warp % C::kWarpsN;
  store_fragment<Out>(p, g, m0 + wm * C::kWM + lane / 4, 16, n0 + wn * C::kWN + 2 * (lane % 4),
                      acc);
}

// The warp-specialized kernel's tile (kernel_ws.cuh): consumer warpgroup `wg` holds rows
// wg * kWgRows + 64 * m + 16 * (warp % 4) in acc[m] (wgmma's accumulator layout).
template <typename C, typename Out>
__device__ inline void store_ws_tile(const Params& p, const TileCoord& t, int wg,
                                     const float (&acc)[C::kMSlices][C::kBN / 8][4]) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32 % 4;
  store_fragment<Out>(p, t.g, t.m0 + wg * C::kWgRows + 16 * warp + lane / 4, 64,
                      t.n0 + 2 * (lane % 4), acc);
}

}  // namespace vconv::cuda::implicit_gemm

#pragma once
// The persistent tile scheduler: a grid of at most one CTA per SM walks the output tiles, CTA b
// taking tiles b, b + gridDim.x, ... Tiles are numbered with the output-channel tile fastest, then
// the row tile, then the group, so that the CTAs running at once share input rows (the tiles of
// one row block, and neighbouring row blocks whose kernel windows overlap) while they read them
// from L2; the weight of a group is small enough to stay there.
#include <cstdint>

#include "cuda/implicit_gemm/params.h"

namespace vconv::cuda::implicit_gemm {

struct TileCoord {
  int64_t m0;  // first output row (position)
  int64_t n0;  // first output channel within the group
  int64_t g;   // group
};

template <int BM, int BN>
struct TileScheduler {
  int64_t m_tiles, n_tiles, count;

  __host__ __device__ explicit TileScheduler(const Params& p)
      : m_tiles((p.m + BM - 1) / BM),
        n_tiles((p.geo.og + BN - 1) / BN),
        count(m_tiles * n_tiles * p.groups) {}

  __device__ TileCoord coord(int64_t tile) const {
    const int64_t n = tile % n_tiles, rest = tile / n_tiles;
    return {rest % m_tiles * BM, n * BN, rest / m_tiles};
  }
};

}  // namespace vconv::cuda::implicit_gemm

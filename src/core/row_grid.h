#pragma once
// A set of output positions (rows of the GEMM view of a conv): every batch index and, per spatial
// dimension, the positions start + step * j for j < count. The whole output is start 0, step 1;
// one stride phase of it has step > 1.
#include <array>
#include <cstdint>

#include "core/algorithm.h"

namespace vconv {

struct RowGrid {
  int64_t n;
  std::array<int64_t, 3> start, step, count;

  int64_t size() const { return n * count[0] * count[1] * count[2]; }
  // (n, od, oh, ow) of row r.
  std::array<int64_t, 4> coord(int64_t r) const {
    const int64_t w = r % count[2], h = r / count[2] % count[1],
                  d = r / (count[2] * count[1]) % count[0],
                  b = r / (count[2] * count[1] * count[0]);
    return {b, start[0] + step[0] * d, start[1] + step[1] * h, start[2] + step[2] * w};
  }

  static RowGrid whole(const Problem& p) { return {p.n, {0, 0, 0}, {1, 1, 1}, p.out}; }
};

}  // namespace vconv

namespace vconv {

// True when the positions of one batch index of `v` lie at a single stride (strides[3]): then
// rows of a GEMM can address them with one leading dimension.
inline bool rows_uniform(const View5& v) {
  return (v.shape[2] == 1 || v.strides[2] == v.shape[3] * v.strides[3]) &&
         (v.shape[1] == 1 || v.strides[1] == v.shape[2] * v.shape[3] * v.strides[3]);
}

}  // namespace vconv

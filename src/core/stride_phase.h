#pragma once
// Input dilation split by stride phase. In a dimension with input dilation s (zero padding), the
// output positions o = r + P * j (P = s / gcd(stride, s), phase r < P) read real samples only
// through the taps k with (r * stride + k * kdil - pad_lo) divisible by s: an arithmetic
// progression of taps. Each phase is then a dense conv over those taps, and no inserted zero is
// multiplied. Dimensions without input dilation (or with replicate/reflect padding, whose edges
// read real samples at any phase) have one phase with every tap.
#include <array>
#include <vector>

#include "core/row_grid.h"

namespace vconv {

struct TapRange {
  int64_t first = 0, step = 1, count = 0;
  int64_t at(int64_t j) const { return first + step * j; }
};

struct Phase {
  RowGrid rows;
  std::array<TapRange, 3> taps;
  int64_t tap_count() const { return taps[0].count * taps[1].count * taps[2].count; }
};

std::vector<Phase> stride_phases(const Problem& p);

}  // namespace vconv

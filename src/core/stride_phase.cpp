#include "core/stride_phase.h"

#include <numeric>

namespace vconv {

std::vector<Phase> stride_phases(const Problem& p) {
  // Per dimension: (phase start, its taps) for each phase.
  std::array<std::vector<std::pair<int64_t, TapRange>>, 3> per_dim;
  for (int i = 0; i < 3; ++i) {
    const int64_t s = p.idil[i];
    const bool split = s > 1 && p.mode[i] == PadMode::zeros;
    const int64_t period = split ? s / std::gcd(p.stride[i], s) : 1;
    for (int64_t r = 0; r < std::min(period, p.out[i]); ++r) {
      TapRange taps{0, 1, p.k[i]};
      if (split) {
        taps = {0, s / std::gcd(p.kdil[i], s), 0};
        int64_t k = 0;
        while (k < p.k[i] && ((r * p.stride[i] + k * p.kdil[i] - p.pad_lo[i]) % s + s) % s != 0)
          ++k;
        taps.first = k;
        taps.count = k < p.k[i] ? (p.k[i] - 1 - k) / taps.step + 1 : 0;
      }
      per_dim[i].push_back({r, taps});
    }
  }
  std::vector<Phase> result;
  for (auto& d : per_dim[0])
    for (auto& h : per_dim[1])
      for (auto& w : per_dim[2]) {
        Phase ph;
        const std::pair<int64_t, TapRange>* dim[3] = {&d, &h, &w};
        ph.rows.n = p.n;
        for (int i = 0; i < 3; ++i) {
          const int64_t period = static_cast<int64_t>(per_dim[i].size());
          ph.rows.start[i] = dim[i]->first;
          ph.rows.step[i] = period;
          ph.rows.count[i] = (p.out[i] - dim[i]->first + period - 1) / period;
          ph.taps[i] = dim[i]->second;
        }
        result.push_back(ph);
      }
  return result;
}

}  // namespace vconv

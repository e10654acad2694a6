// NaN and Inf in the input or the weight, for every CPU algorithm against the reference: the
// promise written in README.md ("NaN and Inf") and docs/DESIGN.md ("Non-finite values").
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "common/cases.h"
#include "vconv/vconv.h"

using vconv::Problem;
using vconv::testing::HostTensor;

namespace {

const std::vector<std::string> kCpuAlgorithms{"cpu_pointwise", "depth_tap", "winograd_f4x3",
                                              "winograd_f2x3", "cpu_gemm"};

enum class Kind { finite, nan, pos_inf, neg_inf };

Kind kind_of(double v) {
  if (std::isnan(v)) return Kind::nan;
  if (std::isinf(v)) return v > 0 ? Kind::pos_inf : Kind::neg_inf;
  return Kind::finite;
}

// Writes NaN, +Inf and -Inf at `count` random elements of `t`.
void poison(HostTensor& t, std::mt19937_64& rng, int count) {
  const double values[] = {std::numeric_limits<double>::quiet_NaN(),
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity()};
  std::uniform_int_distribution<int64_t> at(0, t.numel() - 1);
  for (int i = 0; i < count; ++i) t.set(at(rng), values[i % 3]);
}

// Output channels whose weights hold a non-finite value: there an output that the reference
// leaves finite may be NaN, because padding and inserted zeros enter some algorithms as
// multiplied zeros (0 x Inf = NaN) while the reference skips them.
std::set<int64_t> nonfinite_weight_channels(const Problem& p, const HostTensor& w) {
  std::set<int64_t> channels;
  const int64_t per_channel = w.numel() / p.o;
  for (int64_t i = 0; i < w.numel(); ++i)
    if (!std::isfinite(w.get(i))) channels.insert(i / per_channel);
  return channels;
}

// The Winograd output tile of an output element, (n, frame, tile row, tile column, channel):
// tiles of m x m outputs from the origin of each frame, as src/cpu/conv_winograd.cpp lays them.
using Tile = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>;

Tile tile_of(const Problem& p, int64_t linear, int64_t m) {
  const int64_t oc = linear % p.o, w = linear / p.o % p.out[2],
                h = linear / p.o / p.out[2] % p.out[1];
  const int64_t frame = linear / p.o / p.out[2] / p.out[1];  // n * out[0] + d
  return {frame / p.out[0], frame % p.out[0], h / m, w / m, oc};
}

// The Winograd tile within which `algo` may spread a non-finite value on `p`, 0 where it does not
// run Winograd. depth_tap runs each depth tap as a 2D problem on the algorithm the planner picks,
// Winograd included when the spatial kernel is 3x3 at stride and dilation 1: F(4x4)'s tiles are
// taken then, as they hold F(2x2)'s.
int64_t winograd_tile_size(const std::string& algo, const Problem& p) {
  if (algo == "winograd_f4x3") return 4;
  if (algo == "winograd_f2x3") return 2;
  const bool winograd_taps = p.k[1] == 3 && p.k[2] == 3 && p.stride[1] == 1 && p.stride[2] == 1 &&
                             p.kdil[1] == 1 && p.kdil[2] == 1;
  return algo == "depth_tap" && winograd_taps ? 4 : 0;
}

// Checks `algo` on `p` against the promise; returns whether it ran.
bool check(const Problem& p, const std::string& algo, std::mt19937_64& rng) {
  vconv::Options o;
  o.fp32_math = vconv::Fp32Math::tf32;  // admits every CPU algorithm, winograd_f4x3 included
  bool valid = false;
  for (const auto& c : vconv::conv_candidates(p, vconv::Device::cpu(), o))
    if (c.name == algo) valid = c.valid;
  if (!valid) return false;
  o.algorithm = algo;
  HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()),
      y(p.dtype, p.output_shape()), ref(p.dtype, p.output_shape());
  x.fill_uniform(rng);
  w.fill_uniform(rng);
  const bool poison_weight = std::bernoulli_distribution(0.3)(rng);
  poison(x, rng, std::uniform_int_distribution<int>(1, 4)(rng));
  if (poison_weight) poison(w, rng, std::uniform_int_distribution<int>(1, 2)(rng));
  vconv::conv_reference(x.view(), w.view(), ref.view(), p.params());
  y.fill_nan();
  vconv::conv(x.view(), w.view(), y.view(), p.params(), o);

  const int64_t m = winograd_tile_size(algo, p);
  const std::set<int64_t> weight_channels = nonfinite_weight_channels(p, w);
  std::set<Tile> nonfinite_tiles;  // tiles holding an output the reference makes non-finite
  if (m)
    for (int64_t i = 0; i < ref.numel(); ++i)
      if (!std::isfinite(ref.get(i))) nonfinite_tiles.insert(tile_of(p, i, m));
  int reported = 0;
  for (int64_t i = 0; i < ref.numel() && reported < 3; ++i) {
    const Kind want = kind_of(ref.get(i)), got = kind_of(y.get(i));
    if (got == want) continue;
    bool allowed = false;
    if (got == Kind::nan && weight_channels.count(i % p.o)) {
      allowed = true;  // 0 x Inf at a padded tap, added to whatever the reference has
    } else if (want == Kind::finite) {
      allowed = got == Kind::nan && m && nonfinite_tiles.count(tile_of(p, i, m));
    } else {
      allowed = got == Kind::nan && m;  // Inf - Inf inside Winograd's transforms
    }
    if (!allowed) {
      ++reported;
      ADD_FAILURE() << algo << " on '" << to_string(p) << "'"
                    << (poison_weight ? " (weight too)" : "") << ": output " << i << " is "
                    << y.get(i) << ", the reference's " << ref.get(i);
    }
  }
  return true;
}

}  // namespace

TEST(NonFinite, EveryCpuAlgorithmKeepsTheReferencesPattern) {
  std::mt19937_64 rng(131);
  std::map<std::string, int> checked;
  for (int i = 0; i < 300; ++i) {
    const Problem p =
        i % 2 ? vconv::testing::random_problem(rng) : vconv::testing::random_video_problem(rng);
    for (const auto& algo : kCpuAlgorithms) checked[algo] += check(p, algo, rng);
  }
  // Random problems rarely have a 1x1x1 kernel.
  for (const char* line : {"f32 n=2 in=4x5x6 c=8 o=5 k=1x1x1", "bf16 n=1 in=3x7 c=12 o=6 k=1x1",
                           "f16 n=3 in=9 c=6 o=4 k=1 g=2", "f32 n=1 in=2x3x4 c=3 o=7 k=1x1x1 s=2"})
    for (int i = 0; i < 4; ++i)
      checked["cpu_pointwise"] += check(vconv::parse_problem(line), "cpu_pointwise", rng);
  for (const auto& algo : kCpuAlgorithms) EXPECT_GT(checked[algo], 10) << algo;
}

// Nearest-neighbour upsampling read through the index map (ConvParams::upsample): each fused conv
// in the reference equals the plain reference conv over the explicitly upsampled tensor, in every
// pad mode and with the other index maps; after a prologue too; the named errors; the planner
// refusing every other algorithm.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "fused_check.h"

using vconv::DType;
using vconv::PadMode;
using vconv::testing::expect_close;
using vconv::testing::expect_error;
using vconv::testing::HostTensor;
using vconv::testing::values;

namespace {

// x [N, spatial..., C] repeated `factor[d]` times along each spatial dimension d, as
// F.interpolate(mode="nearest") (and Wan's "nearest-exact", the same at integer factors) does;
// under `first_once`, frame 0 of the first dimension once (HunyuanVideo's UpsampleCausal3D:
// frame 0 upsampled in space alone, the others in time too, concatenated).
HostTensor upsampled(const HostTensor& x, const std::vector<int64_t>& factor,
                     bool first_once = false) {
  std::vector<int64_t> shape = x.shape();
  const int dims = static_cast<int>(shape.size()) - 2;
  for (int d = 0; d < dims; ++d) shape[1 + d] *= factor[d];
  if (first_once) shape[1] -= factor[0] - 1;
  HostTensor out(DType::f32, shape);
  for (int64_t i = 0; i < out.numel(); ++i) {
    // The output's coordinates, innermost first, each divided by its factor.
    int64_t rest = i, source = 0, stride = 1;
    std::vector<int64_t> coords(shape.size());
    for (int r = static_cast<int>(shape.size()) - 1; r >= 0; --r) {
      coords[r] = rest % shape[r];
      rest /= shape[r];
    }
    for (int r = static_cast<int>(shape.size()) - 1; r >= 0; --r) {
      int64_t c = coords[r];
      if (r == 1 && first_once)
        c = c == 0 ? 0 : 1 + (c - 1) / factor[0];
      else if (r >= 1 && r <= dims)
        c /= factor[r - 1];
      source += c * stride;
      stride *= x.shape()[r];
    }
    out.set(i, x.get(source));
  }
  return out;
}

struct UpsampleCase {
  std::vector<int64_t> input, weight, factor;
  vconv::ConvParams params;
};

void check_case(UpsampleCase k, const vconv::Prologue& prologue = {}) {
  std::mt19937_64 rng(static_cast<uint64_t>(k.input.size() * 10 + k.factor[0]));
  HostTensor x(DType::f32, k.input), w(DType::f32, k.weight);
  x.fill_uniform(rng, -1.0, 2.0);
  w.fill_normal(rng);
  vconv::ConvParams fused_params = k.params;
  fused_params.upsample = k.factor;
  HostTensor big =
      upsampled(prologue.empty() ? x : vconv::testing::normalized(x, prologue, {}, {}), k.factor);
  const auto ys = vconv::conv_output_shape(big.shape(), k.weight, k.params);
  ASSERT_EQ(vconv::conv_output_shape(k.input, k.weight, fused_params), ys);
  HostTensor fused(DType::f32, ys), unfused(DType::f32, ys);
  fused.fill_nan();
  vconv::Options o;
  o.prologue = prologue;
  vconv::conv(x.view(), w.view(), fused.view(), fused_params, o);
  vconv::conv_reference(big.view(), w.view(), unfused.view(), k.params);
  expect_close(fused, values(unfused));
}

vconv::ConvParams padded(std::vector<int64_t> lo, std::vector<int64_t> hi, PadMode mode) {
  vconv::ConvParams p;
  p.padding_lo = std::move(lo);
  p.padding_hi = std::move(hi);
  p.pad_mode = {mode};
  return p;
}

}  // namespace

TEST(Upsample, FusedEqualsUpsampleThenConv) {
  for (PadMode mode : {PadMode::zeros, PadMode::replicate, PadMode::reflect}) {
    SCOPED_TRACE(vconv::pad_mode_name(mode));
    // Wan's upsample2d on every frame: 2x in space, a 1x3x3 conv.
    check_case({{2, 3, 4, 5, 4}, {6, 1, 3, 3, 4}, {1, 2, 2}, padded({0, 1, 1}, {0, 1, 1}, mode)});
    // 2x in time and space, causal in time.
    check_case({{1, 3, 3, 4, 4}, {4, 3, 3, 3, 4}, {2, 2, 2}, padded({2, 1, 1}, {0, 1, 1}, mode)});
    // 2D and 1D, uneven factors, groups, stride and kernel dilation.
    UpsampleCase grouped{{2, 4, 3, 4}, {6, 3, 3, 2}, {2, 3}, padded({1, 2}, {1, 2}, mode)};
    grouped.params.groups = 2;
    grouped.params.stride = {2, 1};
    grouped.params.kernel_dilation = {1, 2};
    check_case(grouped);
    check_case({{1, 5, 3}, {2, 3, 3}, {2}, padded({1}, {1}, mode)});
  }
}

TEST(Upsample, CausalKeepsTheFirstFrameOnce) {
  // HunyuanVideo's UpsampleCausal3D: 2x in time after frame 0 and 2x in space, then its causal
  // 3x3x3 conv with replicate padding over the 1 + 2 * (T - 1) frames.
  for (int64_t frames : {1, 2, 3}) {
    std::mt19937_64 rng(static_cast<uint64_t>(frames));
    HostTensor x(DType::f32, {1, frames, 3, 4, 4}), w(DType::f32, {4, 3, 3, 3, 4});
    x.fill_normal(rng);
    w.fill_normal(rng);
    const vconv::ConvParams params = padded({2, 1, 1}, {0, 1, 1}, PadMode::replicate);
    vconv::ConvParams fused_params = params;
    fused_params.upsample = {2};
    fused_params.causal_upsample = true;
    HostTensor big = upsampled(x, {2, 2, 2}, true);
    const auto ys = vconv::conv_output_shape(big.shape(), w.shape(), params);
    ASSERT_EQ(vconv::conv_output_shape(x.shape(), w.shape(), fused_params), ys);
    ASSERT_EQ(ys[1], 2 * frames - 1);
    HostTensor fused(DType::f32, ys), unfused(DType::f32, ys);
    fused.fill_nan();
    vconv::conv(x.view(), w.view(), fused.view(), fused_params);
    vconv::conv_reference(big.view(), w.view(), unfused.view(), params);
    expect_close(fused, values(unfused));
  }
}

TEST(Upsample, AfterAPrologue) {
  // GroupNorm + SiLU, then 2x nearest, then the conv: the statistics of the input equal the
  // upsampled tensor's, so the norm may come first, as the prologue does.
  vconv::Prologue gn;
  gn.norm = vconv::Norm::group_norm;
  gn.groups = 2;
  gn.activation = vconv::Activation::silu;
  check_case({{2, 4, 5, 4}, {3, 3, 3, 4}, {2, 2}, padded({1}, {1}, PadMode::replicate)}, gn);
}

TEST(Upsample, ErrorsAreNamed) {
  const std::vector<int64_t> xs{1, 4, 3, 4, 2}, ws{2, 3, 3, 3, 2};
  vconv::ConvParams p = padded({2, 1, 1}, {0, 1, 1}, PadMode::zeros);
  p.upsample = {0};
  expect_error([&] { vconv::conv_output_shape(xs, ws, p); },
               "params.upsample[0]: got 0, expected >= 1");
  p.upsample = {2, 2};
  expect_error([&] { vconv::conv_output_shape(xs, ws, p); }, "params.upsample: expected 3 values");
  p.upsample = {1, 2, 2};
  p.causal_upsample = true;
  expect_error([&] { vconv::conv_output_shape(xs, ws, p); },
               "params.causal_upsample: upsample[0] = 1; expected > 1");
  p.causal_upsample = false;
  // A frame cache holds input frames: time may not be upsampled under it.
  p.upsample = {2, 1, 1};
  HostTensor x(DType::f32, xs), w(DType::f32, ws), cache(DType::f32, {1, 2, 3, 4, 2});
  HostTensor y(DType::f32, vconv::conv_output_shape(xs, ws, p));
  vconv::Options o;
  o.frame_cache.previous = cache.view();
  expect_error([&] { vconv::conv(x.view(), w.view(), y.view(), p, o); },
               "options.frame_cache: params.upsample[0] = 2 upsamples time; expected 1");
}

TEST(Upsample, OtherAlgorithmsSayWhyNot) {
  const auto p = vconv::parse_problem("f32 n=1 in=4x6x6 c=8 o=8 k=1x3x3 p=0x1x1 up=1x2x2");
  EXPECT_EQ(vconv::to_string(p), "f32 n=1 in=4x6x6 c=8 o=8 k=1x3x3 p=0x1x1 up=1x2x2");
  EXPECT_EQ(p.output_shape(), (std::vector<int64_t>{1, 4, 12, 12, 8}));
  vconv::testing::expect_only_reference(p, {}, "does not read an upsampled input");
  const auto causal =
      vconv::parse_problem("f32 n=1 in=4x6x6 c=8 o=8 k=3x3x3 p=2:0x1x1 up=2 causal_up");
  EXPECT_EQ(vconv::to_string(causal), "f32 n=1 in=4x6x6 c=8 o=8 k=3x3x3 p=2:0x1x1 up=2 causal_up");
  EXPECT_EQ(causal.output_shape(), (std::vector<int64_t>{1, 7, 12, 12, 8}));
  vconv::testing::expect_only_reference(causal, {}, "does not read an upsampled input");
}

// Inputs and weights of any strides (issue 13): a channels-first buffer viewed as [N, D, H, W, C]
// and a weight stored [KD, KH, KW, C, O] give the contiguous call's result, through the
// planner's choice, a forced fast algorithm, the autotuner, accumulate and the epilogue; the plan
// says when a staging copy is made; the output stays channels-last.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "common/host_tensor.h"
#include "vconv/vconv.h"

using vconv::DType;
using vconv::TensorView;
using vconv::testing::HostTensor;

namespace {

constexpr int64_t N = 2, D = 4, H = 6, W = 7, C = 8, O = 16, K = 3;

// A contiguous [N, D, H, W, C] tensor and the same values stored channels-first, [N, C, D, H, W].
struct Input {
  HostTensor contiguous{DType::f32, {N, D, H, W, C}};
  std::vector<float> channels_first = std::vector<float>(N * C * D * H * W);
  explicit Input(std::mt19937_64& rng) {
    contiguous.fill_uniform(rng);
    int64_t i = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w)
            for (int64_t c = 0; c < C; ++c)
              channels_first[(((n * C + c) * D + d) * H + h) * W + w] =
                  static_cast<float>(contiguous.get(i++));
  }
  // The channels-first buffer seen as [N, D, H, W, C]: channel stride D * H * W.
  TensorView strided() {
    return TensorView(channels_first.data(), DType::f32, {N, D, H, W, C},
                      {C * D * H * W, H * W, W, 1, D * H * W});
  }
};

// A contiguous [O, K, K, K, C] weight and the same values stored [K, K, K, C, O] (input channels
// before output channels, as some frameworks keep them).
struct Weight {
  HostTensor contiguous{DType::f32, {O, K, K, K, C}};
  std::vector<float> transposed = std::vector<float>(O * K * K * K * C);
  explicit Weight(std::mt19937_64& rng) {
    contiguous.fill_uniform(rng);
    int64_t i = 0;
    for (int64_t o = 0; o < O; ++o)
      for (int64_t tap = 0; tap < K * K * K; ++tap)
        for (int64_t c = 0; c < C; ++c)
          transposed[(tap * C + c) * O + o] = static_cast<float>(contiguous.get(i++));
  }
  TensorView strided() {
    return TensorView(transposed.data(), DType::f32, {O, K, K, K, C},
                      {1, K * K * C * O, K * C * O, C * O, O});
  }
};

vconv::ConvParams padded() {
  vconv::ConvParams p;
  p.padding_lo = p.padding_hi = {1, 1, 1};
  return p;
}

// max |got - expected| / max |expected|.
double max_rel(const HostTensor& got, const HostTensor& expected) {
  double err = 0, scale = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    err = std::max(err, std::abs(got.get(i) - expected.get(i)));
    scale = std::max(scale, std::abs(expected.get(i)));
  }
  return err / scale;
}

// The strided call against the contiguous one under the same options, from the same initial
// output (accumulate reads it).
void expect_same_result(const vconv::Options& options, std::mt19937_64& rng) {
  Input x(rng);
  Weight w(rng);
  HostTensor expected(DType::f32, {N, D, H, W, O}), got(DType::f32, {N, D, H, W, O});
  expected.fill_uniform(rng);
  got.copy_from(expected);
  vconv::conv(x.contiguous.view(), w.contiguous.view(), expected.view(), padded(), options);
  vconv::conv(x.strided(), w.strided(), got.view(), padded(), options);
  EXPECT_LE(max_rel(got, expected), 1e-5);
}

}  // namespace

TEST(InputLayout, PlannersChoiceMatchesContiguous) {
  std::mt19937_64 rng(1);
  expect_same_result({}, rng);
}

TEST(InputLayout, ForcedFastAlgorithmMatchesContiguous) {
  for (const char* algorithm : {"cpu_gemm", "winograd_f2x3", "reference"}) {
    SCOPED_TRACE(algorithm);
    std::mt19937_64 rng(2);
    vconv::Options o;
    o.algorithm = algorithm;
    expect_same_result(o, rng);
  }
}

TEST(InputLayout, AccumulateAndEpilogueMatchContiguous) {
  std::mt19937_64 rng(3);
  HostTensor bias(DType::f32, {O});
  bias.fill_uniform(rng);
  vconv::Options o;
  o.accumulate = true;
  o.epilogue.bias = bias.view();
  o.epilogue.activation = vconv::Activation::silu;
  expect_same_result(o, rng);
  o.algorithm = "cpu_gemm";
  expect_same_result(o, rng);
}

TEST(InputLayout, AutotuneMatchesContiguous) {
  std::mt19937_64 rng(4);
  vconv::Options o;
  o.autotune = true;
  expect_same_result(o, rng);
}

TEST(InputLayout, PlanSaysWhenACopyIsMade) {
  std::mt19937_64 rng(5);
  Input x(rng);
  Weight w(rng);
  vconv::Options o;
  o.algorithm = "cpu_gemm";
  const vconv::Plan staged = vconv::plan_conv(x.strided(), w.strided(), padded(), o);
  EXPECT_NE(staged.staging.find("input's channel stride is 168, not 1"), std::string::npos)
      << staged.staging;
  EXPECT_NE(staged.staging.find("weight's channel stride is 16, not 1"), std::string::npos)
      << staged.staging;
  EXPECT_NE(staged.staging.find("staging copy"), std::string::npos) << staged.staging;
  EXPECT_NE(staged.to_string().find("staging: "), std::string::npos);
  const vconv::Plan plain = vconv::plan_conv(x.contiguous.view(), w.contiguous.view(), padded(), o);
  EXPECT_EQ(plain.staging, "");
  o.algorithm = "reference";  // reads any channel stride: no copy
  EXPECT_EQ(vconv::plan_conv(x.strided(), w.strided(), padded(), o).staging, "");
}

TEST(InputLayout, OutputStaysChannelsLast) {
  std::mt19937_64 rng(6);
  Input x(rng);
  Weight w(rng);
  std::vector<float> channels_first(N * O * D * H * W);
  const TensorView y(channels_first.data(), DType::f32, {N, D, H, W, O},
                     {O * D * H * W, H * W, W, 1, D * H * W});
  try {
    vconv::conv(x.strided(), w.strided(), y, padded());
    ADD_FAILURE() << "an output of channel stride " << D * H * W << " was taken";
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("output: unsupported strides"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("expected 1"), std::string::npos) << e.what();
  }
}

// 16-bit elements take the same staging copy: bitwise the contiguous call of the same algorithm.
TEST(InputLayout, Bf16ChannelsFirstMatchesContiguous) {
  std::mt19937_64 rng(7);
  HostTensor x(DType::bf16, {N, D, H, W, C}), x_cf(DType::bf16, {N, C, D, H, W}),
      w(DType::bf16, {O, K, K, K, C}), expected(DType::bf16, {N, D, H, W, O}),
      got(DType::bf16, {N, D, H, W, O});
  x.fill_uniform(rng);
  w.fill_uniform(rng);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = i % C, s = i / C % (D * H * W), n = i / (C * D * H * W);
    x_cf.set((n * C + c) * D * H * W + s, x.get(i));
  }
  TensorView strided = x_cf.view();
  strided.shape = {N, D, H, W, C};
  strided.strides = {C * D * H * W, H * W, W, 1, D * H * W};
  for (const char* algorithm : {"cpu_gemm", "reference"}) {
    SCOPED_TRACE(algorithm);
    vconv::Options o;
    o.algorithm = algorithm;
    vconv::conv(x.view(), w.view(), expected.view(), padded(), o);
    vconv::conv(strided, w.view(), got.view(), padded(), o);
    EXPECT_EQ(max_rel(got, expected), 0.0);
  }
}

// A streaming call (the reference reads a frame cache) on a channels-first input: the same output
// and the same next cache as the contiguous call; the reference steps by the channel stride.
TEST(InputLayout, StreamedChannelsFirstMatchesContiguous) {
  std::mt19937_64 rng(8);
  Input x(rng);
  Weight w(rng);
  const int64_t frames = K - 1;
  HostTensor previous(DType::f32, {N, frames, H, W, C}), expected(DType::f32, {N, D, H, W, O}),
      got(DType::f32, {N, D, H, W, O}), expected_next(DType::f32, {N, frames, H, W, C}),
      got_next(DType::f32, {N, frames, H, W, C});
  previous.fill_uniform(rng);
  vconv::ConvParams params;
  params.padding_lo = {frames, 1, 1};  // causal in time
  params.padding_hi = {0, 1, 1};
  vconv::Options o;
  o.frame_cache.previous = previous.view();
  o.frame_cache.next = expected_next.view();
  vconv::conv(x.contiguous.view(), w.contiguous.view(), expected.view(), params, o);
  o.frame_cache.next = got_next.view();
  vconv::conv(x.strided(), w.strided(), got.view(), params, o);
  EXPECT_LE(max_rel(got, expected), 1e-5);
  EXPECT_EQ(max_rel(got_next, expected_next), 0.0);
}

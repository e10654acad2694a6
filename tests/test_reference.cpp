// The reference against hand-computed cases and against the independent unfold formulation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/cases.h"
#include "common/unfold_oracle.h"
#include "vconv/vconv.h"

using vconv::ConvParams;
using vconv::DType;
using vconv::PadMode;
using vconv::Problem;
using vconv::testing::HostTensor;

namespace {

// Runs the reference on f32 data given as flat row-major vectors and returns the output.
std::vector<double> run(const std::vector<int64_t>& xs, const std::vector<double>& xv,
                        const std::vector<int64_t>& ws, const std::vector<double>& wv,
                        const ConvParams& params) {
  HostTensor x(DType::f32, xs), w(DType::f32, ws);
  for (size_t i = 0; i < xv.size(); ++i) x.set(i, xv[i]);
  for (size_t i = 0; i < wv.size(); ++i) w.set(i, wv[i]);
  HostTensor y(DType::f32, vconv::conv_output_shape(xs, ws, params));
  y.fill_nan();
  vconv::conv_reference(x.view(), w.view(), y.view(), params);
  std::vector<double> out(y.numel());
  for (int64_t i = 0; i < y.numel(); ++i) out[i] = y.get(i);
  return out;
}

ConvParams pad1d(int64_t lo, int64_t hi, PadMode mode = PadMode::zeros) {
  ConvParams p;
  p.padding_lo = {lo};
  p.padding_hi = {hi};
  p.pad_mode = {mode};
  return p;
}

const std::vector<int64_t> kX{1, 4, 1}, kW{1, 3, 1};
const std::vector<double> kXv{1, 2, 3, 4}, kWv{1, 10, 100};

}  // namespace

TEST(ReferenceHand, CausalZeros) {
  EXPECT_EQ(run(kX, kXv, kW, kWv, pad1d(2, 0)), (std::vector<double>{100, 210, 321, 432}));
}

TEST(ReferenceHand, Epilogue) {
  // Two output channels over the causal case: [100, 210, 321, 432] and ten times it; bias
  // [1, -4000], then SiLU, stored and accumulated onto 0.5.
  HostTensor x(DType::f32, kX), w(DType::f32, {2, 3, 1}), bias(DType::f32, {2});
  for (int64_t i = 0; i < 4; ++i) x.set(i, kXv[i]);
  for (int64_t i = 0; i < 3; ++i) {
    w.set(i, kWv[i]);
    w.set(3 + i, 10 * kWv[i]);
  }
  bias.set(0, 1);
  bias.set(1, -4000);
  vconv::Epilogue epilogue{bias.view(), vconv::Activation::silu};
  const ConvParams params = pad1d(2, 0);
  HostTensor y(DType::f32, {1, 4, 2});
  auto silu = [](double v) { return v / (1 + std::exp(-v)); };
  for (bool accumulate : {false, true}) {
    for (int64_t i = 0; i < 8; ++i) y.set(i, 0.5);
    vconv::conv_reference(x.view(), w.view(), y.view(), params, accumulate, epilogue);
    const double conv[] = {100, 1000, 210, 2100, 321, 3210, 432, 4320};
    for (int64_t i = 0; i < 8; ++i) {
      const double expected = (accumulate ? 0.5 : 0.0) + silu(conv[i] + (i % 2 ? -4000 : 1));
      EXPECT_NEAR(y.get(i), expected, 1e-6 * std::max(1.0, std::abs(expected))) << i;
    }
  }
}

TEST(ReferenceHand, Flip) {
  auto p = pad1d(2, 0);
  p.flip = true;
  EXPECT_EQ(run(kX, kXv, kW, kWv, p), (std::vector<double>{1, 12, 123, 234}));
}

TEST(ReferenceHand, Replicate) {
  EXPECT_EQ(run(kX, kXv, kW, kWv, pad1d(2, 0, PadMode::replicate)),
            (std::vector<double>{111, 211, 321, 432}));
}

TEST(ReferenceHand, Reflect) {
  EXPECT_EQ(run(kX, kXv, kW, kWv, pad1d(2, 0, PadMode::reflect)),
            (std::vector<double>{123, 212, 321, 432}));
}

TEST(ReferenceHand, AsymmetricPadding) {
  EXPECT_EQ(run(kX, kXv, kW, kWv, pad1d(1, 2)), (std::vector<double>{210, 321, 432, 43, 4}));
}

TEST(ReferenceHand, NegativePaddingCrops) {
  EXPECT_EQ(run(kX, kXv, kW, kWv, pad1d(-1, 0)), (std::vector<double>{432}));
}

TEST(ReferenceHand, InputDilation) {
  ConvParams p;
  p.input_dilation = {2};  // [1 0 2 0 3 0 4]
  EXPECT_EQ(run(kX, kXv, kW, kWv, p), (std::vector<double>{201, 20, 302, 30, 403}));
}

TEST(ReferenceHand, StrideAndKernelDilation) {
  auto p = pad1d(1, 1);
  p.stride = {2};
  EXPECT_EQ(run(kX, kXv, kW, kWv, p), (std::vector<double>{210, 432}));
  ConvParams d;
  d.kernel_dilation = {2};
  EXPECT_EQ(run(kX, kXv, {1, 2, 1}, {1, 10}, d), (std::vector<double>{31, 42}));
}

TEST(ReferenceHand, Groups) {
  ConvParams p;
  p.groups = 2;
  // x [1, 3, 2]: channel 0 = 1 2 3, channel 1 = 10 20 30. Four outputs, two per group.
  const auto y = run({1, 3, 2}, {1, 10, 2, 20, 3, 30}, {4, 1, 1}, {2, 3, 5, 7}, p);
  EXPECT_EQ(y, (std::vector<double>{2, 3, 50, 70, 4, 6, 100, 140, 6, 9, 150, 210}));
}

TEST(ReferenceHand, Replicate2D) {
  ConvParams p;
  p.padding_lo = {1, 1};
  p.padding_hi = {0, 0};
  p.pad_mode = {PadMode::replicate};
  // padded [[1 1 2] [1 1 2] [3 3 4]], 2x2 kernel of ones.
  EXPECT_EQ(run({1, 2, 2, 1}, {1, 2, 3, 4}, {1, 2, 2, 1}, {1, 1, 1, 1}, p),
            (std::vector<double>{4, 6, 8, 10}));
}

TEST(ReferenceHand, FlipMirrorsDepth) {
  // Frames 1 2 3 through a depth-2 kernel [1 10]: the depth axis is mirrored under flip too.
  ConvParams p;
  EXPECT_EQ(run({1, 3, 1, 1, 1}, {1, 2, 3}, {1, 2, 1, 1, 1}, {1, 10}, p),
            (std::vector<double>{21, 32}));
  p.flip = true;
  EXPECT_EQ(run({1, 3, 1, 1, 1}, {1, 2, 3}, {1, 2, 1, 1, 1}, {1, 10}, p),
            (std::vector<double>{12, 23}));
}

TEST(ReferenceHand, TransposedConv) {
  // PyTorch conv_transpose1d of [1 2 3] with kernel [1 10 100], stride 2, padding 1:
  // scatter gives [1 10 102 20 203 30 300]; cropping one each side leaves [10 102 20 203 30].
  // conv_general sees the kernel mirrored (flip), so the weight is the transposed kernel.
  const auto p = vconv::conv_transpose_params({3}, {2}, {1}, {1}, {0});
  EXPECT_EQ(run({1, 3, 1}, {1, 2, 3}, {1, 3, 1}, {1, 10, 100}, p),
            (std::vector<double>{10, 102, 20, 203, 30}));
}

TEST(ReferenceRandom, MatchesUnfoldFormulation) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    const vconv::Problem p = vconv::testing::random_problem(rng, 50000);
    HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape());
    HostTensor y(p.dtype, p.output_shape());
    x.fill_uniform(rng);
    w.fill_uniform(rng);
    y.fill_nan();
    vconv::conv_reference(x.view(), w.view(), y.view(), p.params());
    const auto e = vconv::testing::compare(y, vconv::testing::conv_unfold(p, x, w));
    ASSERT_TRUE(e.within(vconv::testing::tolerance(p.dtype)))
        << to_string(p) << ": " << e.to_string();
  }
}

TEST(ReferenceRandom, StridedViewsAndAccumulate) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 100; ++i) {
    const vconv::Problem p = vconv::testing::random_problem(rng, 50000);
    vconv::testing::CheckOptions o;
    o.strided = i % 2 == 0;
    o.accumulate = i % 3 == 0;
    // Strided/accumulated reference runs against a contiguous plain reference run.
    const auto e = vconv::testing::check_algorithm(p, "reference", rng, o);
    ASSERT_TRUE(e.within(vconv::testing::tolerance(p.dtype)))
        << to_string(p) << ": " << e.to_string();
  }
}

TEST(ReferenceRandom, FrameShiftedView) {
  // A view that starts at frame 2 of a larger tensor gives the same result as a copy of it.
  std::mt19937_64 rng(3);
  HostTensor big(DType::f32, {2, 7, 5, 6, 4}), part(DType::f32, {2, 4, 5, 6, 4});
  big.fill_uniform(rng);
  for (int64_t i = 0; i < part.numel(); ++i) {
    const int64_t c = i % 4, w = i / 4 % 6, h = i / 24 % 5, t = i / 120 % 4, n = i / 480;
    part.set(i, big.get(((((n * 7) + t + 2) * 5 + h) * 6 + w) * 4 + c));
  }
  HostTensor wt(DType::f32, {3, 3, 3, 3, 4});
  wt.fill_uniform(rng);
  vconv::ConvParams params;
  params.padding_lo = {2, 1, 1};
  params.padding_hi = {0, 1, 1};
  auto shifted = big.view();
  shifted.shape = part.shape();
  shifted.data = static_cast<float*>(shifted.data) + 2 * big.strides()[1];
  HostTensor y1(DType::f32, vconv::conv_output_shape(part.shape(), wt.shape(), params));
  HostTensor y2 = y1;
  vconv::conv_reference(shifted, wt.view(), y1.view(), params);
  vconv::conv_reference(part.view(), wt.view(), y2.view(), params);
  for (int64_t i = 0; i < y1.numel(); ++i) ASSERT_EQ(y1.get(i), y2.get(i)) << i;
}

// The per-output bound of vconv verify (common/cases.h) must catch a defect as small as one missing
// term, under the loosest models (Winograd F(4x4), TF32, bf16 outputs), and pass the reference.
TEST(ErrorBound, CatchesOneMissingTerm) {
  std::mt19937_64 rng(51);
  for (const char* line : {"f32 in=6x7 c=8 o=3 k=3x3 p=1", "bf16 in=4x6x7 c=5 o=2 k=3x3x3 p=1"})
    for (const auto& [algorithm, math] : {std::pair{"cpu_gemm", vconv::Fp32Math::exact},
                                          std::pair{"winograd_f4x3", vconv::Fp32Math::tf32},
                                          std::pair{"cuda_implicit_gemm", vconv::Fp32Math::tf32}}) {
      const Problem p = vconv::parse_problem(line);
      HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape());
      x.fill_uniform(rng);
      w.fill_uniform(rng);
      HostTensor ref(p.dtype, p.output_shape()), got(p.dtype, p.output_shape());
      vconv::conv_reference(x.view(), w.view(), ref.view(), p.params());
      std::vector<double> r(static_cast<size_t>(ref.numel()));
      for (size_t i = 0; i < r.size(); ++i) r[i] = ref.get(static_cast<int64_t>(i));
      const auto model = vconv::testing::error_model(algorithm, p.dtype, math);
      const auto bound =
          vconv::testing::error_bounds(p, model, r, vconv::testing::magnitudes(p, x, w));
      EXPECT_TRUE(vconv::testing::compare_within_bound(ref, r, bound).within_bound());
      // One weight (a middle tap of output channel 0) dropped: every output reads it.
      HostTensor w_missing(p.dtype, p.weight_shape());
      w_missing.copy_from(w);
      w_missing.set(w.numel() / p.o / 2, 0.0);
      vconv::conv_reference(x.view(), w_missing.view(), got.view(), p.params());
      const auto e = vconv::testing::compare_within_bound(got, r, bound);
      EXPECT_FALSE(e.within_bound()) << algorithm << " on '" << line << "': " << e.to_string();
      EXPECT_GT(e.bound_ratio, 4) << algorithm << " on '" << line << "': " << e.to_string();
    }
}

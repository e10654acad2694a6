// The epilogue's residual and the depth-to-space output map: each fused conv in the reference
// equals the plain reference conv followed by the explicit step (the residual added, channels
// moved as diffusers moves them); the named errors; the planner refusing every other algorithm.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "fused_check.h"

using vconv::Activation;
using vconv::DType;
using vconv::PadMode;
using vconv::testing::expect_close;
using vconv::testing::expect_error;
using vconv::testing::HostTensor;
using vconv::testing::values;

namespace {

// Depth-to-space of a conv output z [N, T, H, W, O] by (rt, rh, rw) into [N, T*rt, H*rh, W*rw,
// C'], the way diffusers writes it: Wan's upsample3d reshapes the time conv's (b, 2c, t, h, w)
// to (b, 2, c, t, h, w) and stacks the halves after t (frame 2t + k from channel k * c + ch);
// pixel_shuffle takes channel ch * r * r + i * r + j to (h * r + i, w * r + j). Time first, then
// space, on the frames time made. A 2D output [N, H, W, O] is one frame per sample.
std::vector<double> depth_to_space(const HostTensor& z, int64_t rt, int64_t rh, int64_t rw) {
  std::vector<int64_t> s = z.shape();
  if (s.size() == 4) s.insert(s.begin() + 1, 1);  // a 2D output: one frame per sample
  const int64_t n_count = s[0], t_count = s[1], h_count = s[2], w_count = s[3], o = s[4];
  const int64_t time_channels = o / rt;  // after the time step: rh * rw * C'
  const int64_t channels = time_channels / (rh * rw);
  // Time: frame t * rt + k, channel ch from channel k * time_channels + ch.
  std::vector<double> timed(z.numel());
  for (int64_t n = 0; n < n_count; ++n)
    for (int64_t t = 0; t < t_count; ++t)
      for (int64_t k = 0; k < rt; ++k)
        for (int64_t hw = 0; hw < h_count * w_count; ++hw)
          for (int64_t ch = 0; ch < time_channels; ++ch)
            timed[(((n * t_count * rt + t * rt + k) * h_count * w_count + hw) * time_channels) +
                  ch] =
                z.get(((n * t_count + t) * h_count * w_count + hw) * o + k * time_channels + ch);
  // Space: pixel_shuffle of every frame.
  std::vector<double> out(z.numel());
  const int64_t frames = n_count * t_count * rt, big_w = w_count * rw;
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t h = 0; h < h_count; ++h)
      for (int64_t w = 0; w < w_count; ++w)
        for (int64_t ch = 0; ch < channels; ++ch)
          for (int64_t i = 0; i < rh; ++i)
            for (int64_t j = 0; j < rw; ++j)
              out[((f * h_count * rh + h * rh + i) * big_w + w * rw + j) * channels + ch] =
                  timed[((f * h_count + h) * w_count + w) * time_channels + ch * rh * rw + i * rw +
                        j];
  return out;
}

struct Conv {
  HostTensor x, w, bias;
  vconv::ConvParams params;
};

// A causal 3D conv with a k0 x 3 x 3 kernel (3D) or a 3 x 3 one (2D), random data.
Conv make_conv(int dims, int64_t c, int64_t o, int64_t k0, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Conv v;
  if (dims == 3) {
    v.x = HostTensor(DType::f32, {2, 3, 4, 5, c});
    v.w = HostTensor(DType::f32, {o, k0, 3, 3, c});
    v.params.padding_lo = {k0 - 1, 1, 1};
    v.params.padding_hi = {0, 1, 1};
    v.params.pad_mode = {PadMode::replicate, PadMode::zeros, PadMode::zeros};
  } else {
    v.x = HostTensor(DType::f32, {2, 4, 5, c});
    v.w = HostTensor(DType::f32, {o, 3, 3, c});
    v.params.padding_lo = {1};
    v.params.padding_hi = {1};
  }
  v.bias = HostTensor(DType::f32, {o});
  v.x.fill_normal(rng);
  v.w.fill_normal(rng);
  v.bias.fill_normal(rng);
  return v;
}

}  // namespace

TEST(FusedEpilogue, ResidualAfterTheActivation) {
  for (bool accumulate : {false, true})
    for (Activation act : {Activation::none, Activation::silu}) {
      Conv v = make_conv(3, 4, 6, 3, 1);
      const auto ys = vconv::conv_output_shape(v.x.shape(), v.w.shape(), v.params);
      std::mt19937_64 rng(2);
      HostTensor residual(DType::f32, ys, {0, 1, 0, 2, 0}), fused(DType::f32, ys),
          conv(DType::f32, ys);  // a strided residual
      residual.fill_normal(rng);
      fused.fill_normal(rng);
      const std::vector<double> before = values(fused);
      vconv::Options o;
      o.accumulate = accumulate;
      o.epilogue = {v.bias.view(), act, residual.view()};
      vconv::conv(v.x.view(), v.w.view(), fused.view(), v.params, o);
      vconv::conv_reference(v.x.view(), v.w.view(), conv.view(), v.params, false,
                            {v.bias.view(), act});
      std::vector<double> expected = values(conv);
      for (size_t i = 0; i < expected.size(); ++i)
        expected[i] += residual.get(i) + (accumulate ? before[i] : 0.0);
      expect_close(fused, expected);
    }
}

TEST(FusedEpilogue, WanTimeDepthToSpace) {
  // Wan's upsample3d time conv: causal 3x1x1, C -> 2C, the halves become frames 2t and 2t + 1.
  Conv v = make_conv(3, 4, 8, 3, 3);
  v.w = HostTensor(DType::f32, {8, 3, 1, 1, 4});
  std::mt19937_64 rng(4);
  v.w.fill_normal(rng);
  v.params.padding_lo = {2, 0, 0};
  v.params.padding_hi = {0, 0, 0};
  const auto conv_shape = vconv::conv_output_shape(v.x.shape(), v.w.shape(), v.params);
  vconv::ConvParams fused_params = v.params;
  fused_params.depth_to_space = {2, 1, 1};
  const auto ys = vconv::conv_output_shape(v.x.shape(), v.w.shape(), fused_params);
  EXPECT_EQ(ys, (std::vector<int64_t>{2, 6, 4, 5, 4}));
  HostTensor fused(DType::f32, ys), conv(DType::f32, conv_shape);
  fused.fill_nan();
  vconv::Options o;
  o.epilogue.bias = v.bias.view();
  vconv::conv(v.x.view(), v.w.view(), fused.view(), fused_params, o);
  vconv::conv_reference(v.x.view(), v.w.view(), conv.view(), v.params, false, {v.bias.view()});
  expect_close(fused, depth_to_space(conv, 2, 1, 1));
}

TEST(FusedEpilogue, PixelShuffleWithResidual) {
  // 2D: pixel_shuffle by 2 of a 3x3 conv with 12 channels (3 after), SiLU and a residual of
  // the shuffled output's shape.
  for (int dims : {2, 3}) {
    Conv v = make_conv(dims, 4, 12, 2, 5);
    vconv::ConvParams fused_params = v.params;
    fused_params.depth_to_space =
        dims == 2 ? std::vector<int64_t>{2} : std::vector<int64_t>{1, 2, 2};
    const auto conv_shape = vconv::conv_output_shape(v.x.shape(), v.w.shape(), v.params);
    const auto ys = vconv::conv_output_shape(v.x.shape(), v.w.shape(), fused_params);
    std::mt19937_64 rng(6);
    HostTensor fused(DType::f32, ys), conv(DType::f32, conv_shape), residual(DType::f32, ys);
    residual.fill_normal(rng);
    fused.fill_nan();
    vconv::Options o;
    o.epilogue = {v.bias.view(), Activation::silu, residual.view()};
    vconv::conv(v.x.view(), v.w.view(), fused.view(), fused_params, o);
    vconv::conv_reference(v.x.view(), v.w.view(), conv.view(), v.params, false,
                          {v.bias.view(), Activation::silu});
    std::vector<double> expected =
        depth_to_space(conv, 1, 2, 2);  // a 2D output is one frame per sample
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += residual.get(i);
    expect_close(fused, expected);
  }
}

TEST(FusedEpilogue, TimeAndSpaceTogether) {
  Conv v = make_conv(3, 4, 16, 2, 7);
  vconv::ConvParams fused_params = v.params;
  fused_params.depth_to_space = {2, 2, 2};
  const auto conv_shape = vconv::conv_output_shape(v.x.shape(), v.w.shape(), v.params);
  const auto ys = vconv::conv_output_shape(v.x.shape(), v.w.shape(), fused_params);
  HostTensor fused(DType::f32, ys), conv(DType::f32, conv_shape);
  fused.fill_nan();
  vconv::Options o;
  o.algorithm = "reference";
  vconv::conv(v.x.view(), v.w.view(), fused.view(), fused_params, o);
  vconv::conv_reference(v.x.view(), v.w.view(), conv.view(), v.params);
  expect_close(fused, depth_to_space(conv, 2, 2, 2));
}

TEST(FusedEpilogue, ErrorsAreNamed) {
  Conv v = make_conv(3, 4, 6, 3, 8);
  const auto ys = vconv::conv_output_shape(v.x.shape(), v.w.shape(), v.params);
  HostTensor y(DType::f32, ys), wrong(DType::f32, {2, 3, 4, 5, 5}), half(DType::bf16, ys);
  auto call = [&](const vconv::TensorView& residual, const vconv::TensorView& out) {
    return [&, residual, out] {
      vconv::Options o;
      o.epilogue.residual = residual;
      vconv::conv(v.x.view(), v.w.view(), out, v.params, o);
    };
  };
  expect_error(call(wrong.view(), y.view()),
               "options.epilogue.residual: shape [2, 3, 4, 5, 5], expected the output's "
               "[2, 3, 4, 5, 6]");
  expect_error(call(half.view(), y.view()),
               "options.epilogue.residual: dtype mismatch: bf16, input is f32");
  vconv::TensorView on_gpu = y.view();
  on_gpu.device = vconv::Device::cuda(0);
  HostTensor r(DType::f32, ys);
  vconv::TensorView r_gpu = r.view();
  r_gpu.device = vconv::Device::cuda(0);
  expect_error(call(r_gpu, y.view()), "options.epilogue.residual: device mismatch");
  expect_error(call(y.view(), y.view()),
               "options.epilogue.residual: overlaps the output in memory; expected a separate "
               "buffer (out += conv is options.accumulate)");

  vconv::ConvParams d2s = v.params;
  d2s.depth_to_space = {4, 1, 1};
  expect_error([&] { vconv::conv_output_shape(v.x.shape(), v.w.shape(), d2s); },
               "params.depth_to_space: O = 6 output channels is not divisible by 4");
  d2s.depth_to_space = {0};
  expect_error([&] { vconv::conv_output_shape(v.x.shape(), v.w.shape(), d2s); },
               "params.depth_to_space[0]: got 0, expected >= 1");
  d2s.depth_to_space = {2, 1};
  expect_error([&] { vconv::conv_output_shape(v.x.shape(), v.w.shape(), d2s); },
               "params.depth_to_space: expected 3 values");
  // The output must have the shape after depth-to-space.
  d2s.depth_to_space = {2, 1, 1};
  expect_error([&] { vconv::conv(v.x.view(), v.w.view(), y.view(), d2s); },
               "output: shape [2, 3, 4, 5, 6], expected [2, 6, 4, 5, 3]");
}

TEST(FusedEpilogue, OtherAlgorithmsSayWhyNot) {
  const auto p = vconv::parse_problem("f32 n=1 in=4x6x6 c=8 o=8 k=3x3x3 p=2:0x1x1 d2s=2x1x1");
  EXPECT_EQ(vconv::to_string(p), "f32 n=1 in=4x6x6 c=8 o=8 k=3x3x3 p=2:0x1x1 d2s=2x1x1");
  EXPECT_EQ(p.output_shape(), (std::vector<int64_t>{1, 8, 6, 6, 4}));
  vconv::testing::expect_only_reference(p, {}, "does not store through depth-to-space");
}

// Every CPU algorithm that runs a problem adds a residual in its store (CpuAlgorithms.
// EpilogueMatchesTheReference checks the values): the planner does not fall back to the reference.
TEST(FusedEpilogue, EveryCpuAlgorithmAddsAResidual) {
  for (const char* text : {"f32 n=1 in=4x6x6 c=8 o=8 k=3x3x3 p=2:0x1x1",
                           "bf16 n=2 in=3x5x5 c=8 o=8 k=1x1x1", "f32 in=6x7 c=4 o=4 k=3x3 p=1"}) {
    const auto plain = vconv::parse_problem(text);
    HostTensor residual(plain.dtype, plain.output_shape());
    vconv::Options o;
    o.epilogue.residual = residual.view();
    int valid = 0;
    for (const auto& c : vconv::conv_candidates(plain, vconv::Device::cpu(), o)) {
      if (c.name == "reference") continue;
      valid += c.valid;
      EXPECT_EQ(c.why_not.find("residual"), std::string::npos) << c.name << ": " << c.why_not;
    }
    EXPECT_GE(valid, 1) << text;
    EXPECT_NE(vconv::plan_conv(plain, vconv::Device::cpu(), o).algorithm, "reference") << text;
  }
}

TEST(FusedEpilogue, TimeDepthToSpaceStreams) {
  // Wan's upsample3d time conv runs with a frame cache: chunks of 1, 2 and 1 input frames (2, 4
  // and 2 output frames) equal one call over the 4 frames bitwise.
  Conv v = make_conv(3, 4, 8, 3, 9);
  v.x = HostTensor(DType::f32, {1, 4, 4, 5, 4});
  v.w = HostTensor(DType::f32, {8, 3, 1, 1, 4});
  std::mt19937_64 rng(10);
  v.x.fill_normal(rng);
  v.w.fill_normal(rng);
  v.params.padding_lo = {2, 0, 0};
  v.params.padding_hi = {0, 0, 0};
  v.params.depth_to_space = {2, 1, 1};
  const int64_t in_frame = 4 * 5 * 4, out_frame = 4 * 5 * 4;
  HostTensor whole(DType::f32, {1, 8, 4, 5, 4}), chunked(DType::f32, {1, 8, 4, 5, 4});
  vconv::Options o;
  o.epilogue.bias = v.bias.view();
  vconv::conv(v.x.view(), v.w.view(), whole.view(), v.params, o);
  HostTensor caches[2] = {HostTensor(DType::f32, {1, 2, 4, 5, 4}),
                          HostTensor(DType::f32, {1, 2, 4, 5, 4})};
  int64_t start = 0;
  int which = 0;
  for (int64_t t : {1, 2, 1}) {
    vconv::Options chunk = o;
    if (start > 0) chunk.frame_cache.previous = caches[1 - which].view();
    chunk.frame_cache.next = caches[which].view();
    vconv::TensorView x = v.x.view(), y = chunked.view();
    x.data = static_cast<float*>(x.data) + start * in_frame;
    x.shape[1] = t;
    y.data = static_cast<float*>(y.data) + 2 * start * out_frame;
    y.shape[1] = 2 * t;
    vconv::conv(x, v.w.view(), y, v.params, chunk);
    start += t;
    which = 1 - which;
  }
  for (int64_t i = 0; i < whole.numel(); ++i) ASSERT_EQ(whole.get(i), chunked.get(i)) << i;
}

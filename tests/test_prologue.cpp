// The input prologue (Options::prologue): each fused conv in the reference equals the unfused
// sequence (the norm and activation computed here, plainly, on an explicit tensor, then the plain
// reference conv), in every pad mode; a frame cache holds frames after the prologue; the named
// errors; every other algorithm running on the input a staging pass transformed (the plan says so).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "fused_check.h"

using vconv::Activation;
using vconv::DType;
using vconv::Norm;
using vconv::PadMode;
using vconv::testing::expect_close;
using vconv::testing::expect_error;
using vconv::testing::HostTensor;
using vconv::testing::normalized;
using vconv::testing::values;

namespace {

struct PrologueCase {
  Norm norm;
  int64_t groups;  // the norm's; 0 for the others
  bool affine;
  Activation activation;
  PadMode mode;
  int dims;
  bool strided = false;
};

constexpr int64_t kC = 8, kO = 6;

void check_case(const PrologueCase& k) {
  SCOPED_TRACE("norm " + std::to_string(static_cast<int>(k.norm)) + " groups " +
               std::to_string(k.groups) + " affine " + std::to_string(k.affine) + " silu " +
               std::to_string(k.activation == Activation::silu) + " pad " +
               vconv::pad_mode_name(k.mode) + " dims " + std::to_string(k.dims));
  std::mt19937_64 rng(static_cast<uint64_t>(k.groups * 100 + k.dims * 10 + (k.affine ? 1 : 0)));
  std::vector<int64_t> xs{2, 4, 5, 6, kC}, ws{kO, 3, 3, 3, kC / 2};
  if (k.dims == 2) {
    xs = {2, 5, 6, kC};
    ws = {kO, 3, 3, kC / 2};
  }
  HostTensor x(DType::f32, xs,
               k.strided ? std::vector<int64_t>(xs.size(), 1) : std::vector<int64_t>{}),
      w(DType::f32, ws), scale(DType::f32, {kC}), shift(DType::f32, {kC});
  x.fill_uniform(rng, -1.0, 3.0);  // a mean away from zero, so that the norm's shift matters
  w.fill_normal(rng);
  scale.fill_uniform(rng, 0.5, 1.5);
  shift.fill_uniform(rng, -0.5, 0.5);
  vconv::ConvParams params;
  params.groups = 2;
  if (k.dims == 3) {  // causal in time
    params.padding_lo = {2, 1, 1};
    params.padding_hi = {0, 1, 1};
  } else {
    params.padding_lo = {1, 1};
    params.padding_hi = {1, 1};
  }
  params.pad_mode = {k.mode};

  vconv::Options options;
  options.prologue.norm = k.norm;
  options.prologue.groups = k.groups;
  options.prologue.eps = k.norm == Norm::rms_norm ? 1e-12 : 1e-5;
  options.prologue.activation = k.activation;
  if (k.affine) {
    options.prologue.scale = scale.view();
    options.prologue.shift = shift.view();
  }
  const auto ys = vconv::conv_output_shape(xs, ws, params);
  HostTensor unfused(DType::f32, ys);
  HostTensor xn = normalized(x, options.prologue, k.affine ? values(scale) : std::vector<double>{},
                             k.affine ? values(shift) : std::vector<double>{});
  vconv::conv_reference(xn.view(), w.view(), unfused.view(), params);
  // The reference applies the prologue as it reads; the planner's choice runs on a staging pass.
  for (const char* algorithm : {"reference", ""}) {
    HostTensor fused(DType::f32, ys);
    fused.fill_nan();
    options.algorithm = algorithm;
    vconv::conv(x.view(), w.view(), fused.view(), params, options);
    expect_close(fused, values(unfused));
  }
}

}  // namespace

TEST(Prologue, FusedEqualsNormThenConv) {
  for (PadMode mode : {PadMode::zeros, PadMode::replicate, PadMode::reflect})
    for (int dims : {2, 3})
      for (Activation act : {Activation::none, Activation::silu}) {
        check_case({Norm::group_norm, 4, true, act, mode, dims});
        check_case({Norm::group_norm, 1, false, act, mode, dims});
        check_case({Norm::rms_norm, 0, true, act, mode, dims});
        check_case({Norm::rms_norm, 0, false, act, mode, dims});
        check_case({Norm::scale_shift, 0, true, act, mode, dims});
      }
  check_case({Norm::none, 0, false, Activation::silu, PadMode::replicate, 3});
  check_case({Norm::group_norm, 2, true, Activation::silu, PadMode::replicate, 3, true});
}

TEST(Prologue, StreamingCacheHoldsFramesAfterThePrologue) {
  // Wan's residual block: RMS norm, SiLU, causal 3x3x3 conv, run in chunks of 2, 1 and 3 frames:
  // bitwise one call over the 6 frames, and each `next` holds the last 2 normalized frames.
  std::mt19937_64 rng(11);
  const int64_t frames = 6, f = 2, frame = 3 * 4 * kC;
  HostTensor x(DType::f32, {1, frames, 3, 4, kC}), w(DType::f32, {kO, 3, 3, 3, kC}),
      gamma(DType::f32, {kC});
  x.fill_normal(rng);
  w.fill_normal(rng);
  gamma.fill_uniform(rng, 0.5, 1.5);
  vconv::ConvParams params;
  params.padding_lo = {2, 1, 1};
  params.padding_hi = {0, 1, 1};
  vconv::Options options;
  options.prologue = {Norm::rms_norm, 0, 1e-12, gamma.view(), {}, Activation::silu};
  options.algorithm = "depth_tap";  // bitwise needs the algorithm fixed: it reads the cache
  HostTensor whole(DType::f32, {1, frames, 3, 4, kO}), chunked(DType::f32, {1, frames, 3, 4, kO});
  vconv::conv(x.view(), w.view(), whole.view(), params, options);
  const HostTensor xn = normalized(x, options.prologue, values(gamma), {});

  HostTensor caches[2] = {HostTensor(DType::f32, {1, f, 3, 4, kC}),
                          HostTensor(DType::f32, {1, f, 3, 4, kC})};
  int64_t start = 0;
  int which = 0;
  for (int64_t t : {2, 1, 3}) {
    vconv::Options o = options;
    if (start > 0) o.frame_cache.previous = caches[1 - which].view();
    o.frame_cache.next = caches[which].view();
    auto chunk = [&](HostTensor& h, int64_t channels) {
      vconv::TensorView v = h.view();
      v.data = static_cast<float*>(v.data) + start * 3 * 4 * channels;
      v.shape[1] = t;
      return v;
    };
    vconv::conv(chunk(x, kC), w.view(), chunk(chunked, kO), params, o);
    start += t;
    std::vector<double> expected(f * frame);
    for (int64_t i = 0; i < f * frame; ++i) expected[i] = xn.get((start - f) * frame + i);
    expect_close(caches[which], expected, 1e-6);
    which = 1 - which;
  }
  for (int64_t i = 0; i < whole.numel(); ++i) ASSERT_EQ(whole.get(i), chunked.get(i)) << i;
}

TEST(Prologue, GroupNormOfAChunkReadsTheCacheAsItIs) {
  // A chunk's statistics are its own; the cached frames are read as they are (already
  // normalized): the call equals the plain conv over (previous ++ group_norm(chunk)).
  std::mt19937_64 rng(12);
  HostTensor x(DType::f32, {1, 3, 3, 4, kC}), w(DType::f32, {kO, 3, 3, 3, kC}),
      previous(DType::f32, {1, 2, 3, 4, kC});
  x.fill_uniform(rng, -1.0, 3.0);
  w.fill_normal(rng);
  previous.fill_normal(rng);
  vconv::ConvParams params;
  params.padding_lo = {2, 1, 1};
  params.padding_hi = {0, 1, 1};
  vconv::Options options;
  options.prologue = {Norm::group_norm, 2, 1e-5, {}, {}, Activation::silu};
  options.frame_cache.previous = previous.view();
  HostTensor fused(DType::f32, {1, 3, 3, 4, kO}), unfused(DType::f32, {1, 3, 3, 4, kO});
  vconv::conv(x.view(), w.view(), fused.view(), params, options);

  const HostTensor xn = normalized(x, options.prologue, {}, {});
  HostTensor joined(DType::f32, {1, 5, 3, 4, kC});
  for (int64_t i = 0; i < previous.numel(); ++i) joined.set(i, previous.get(i));
  for (int64_t i = 0; i < xn.numel(); ++i) joined.set(previous.numel() + i, xn.get(i));
  vconv::ConvParams no_time_padding = params;
  no_time_padding.padding_lo = {0, 1, 1};
  vconv::conv_reference(joined.view(), w.view(), unfused.view(), no_time_padding);
  expect_close(fused, values(unfused));
}

TEST(Prologue, ErrorsAreNamed) {
  HostTensor x(DType::f32, {1, 4, 5, kC}), w(DType::f32, {kO, 3, 3, kC}),
      y(DType::f32, {1, 2, 3, kO}), seven(DType::f32, {7}), eight(DType::f32, {kC}),
      half(DType::bf16, {kC});
  auto call = [&](const vconv::Prologue& prologue) {
    return [&, prologue] {
      vconv::Options o;
      o.prologue = prologue;
      vconv::conv(x.view(), w.view(), y.view(), {}, o);
    };
  };
  expect_error(call({Norm::group_norm, 3}),
               "options.prologue.groups: 3 groups for C = 8 input channels; expected a divisor");
  expect_error(call({Norm::group_norm, 0}), "options.prologue.groups: 0 groups");
  expect_error(call({Norm::rms_norm, 2}),
               "options.prologue.groups: 2; expected 0: only Norm::group_norm takes groups");
  expect_error(call({Norm::group_norm, 2, 0.0}), "options.prologue.eps: ");
  expect_error(call({Norm::rms_norm, 0, -1.0}), "expected a finite eps > 0");
  expect_error(call({Norm::scale_shift, 0, 1e-5, seven.view()}),
               "options.prologue.scale: shape [7], expected [8] (one value per input channel)");
  expect_error(call({Norm::scale_shift, 0, 1e-5, {}, half.view()}),
               "options.prologue.shift: dtype mismatch: bf16, input is f32");
  expect_error(call({Norm::none, 0, 1e-5, eight.view()}),
               "options.prologue.scale: given with Norm::none");
  vconv::TensorView over_output = y.view();
  over_output.shape = {kC};
  over_output.strides = {};
  expect_error(call({Norm::scale_shift, 0, 1e-5, over_output}),
               "options.prologue.scale: overlaps the output");
}

TEST(Prologue, OtherAlgorithmsRunOnAStagingPass) {
  const auto p = vconv::parse_problem("f32 n=1 in=4x6x6 c=8 o=8 k=3x3x3 p=2:0x1x1");
  vconv::Options o;
  o.prologue.norm = Norm::group_norm;
  o.prologue.groups = 2;
  o.prologue.activation = Activation::silu;
  std::mt19937_64 rng(3);
  HostTensor x(DType::f32, {1, 4, 6, 6, 8}), w(DType::f32, {8, 3, 3, 3, 8});
  x.fill_normal(rng);
  w.fill_normal(rng);
  // Every algorithm that runs the plain conv runs this one, equal to the reference's.
  HostTensor expected(DType::f32, {1, 4, 6, 6, 8});
  vconv::Options forced = o;
  forced.algorithm = "reference";
  vconv::conv(x.view(), w.view(), expected.view(), p.params(), forced);
  int staged = 0;
  for (const auto& c : vconv::conv_candidates(p, vconv::Device::cpu(), o)) {
    if (!c.valid || c.name == "reference") continue;
    forced.algorithm = c.name;
    const vconv::Plan plan = vconv::plan_conv(x.view(), w.view(), p.params(), forced);
    EXPECT_NE(plan.staging.find("does not apply the input prologue"), std::string::npos)
        << c.name << ": " << plan.staging;
    HostTensor got(DType::f32, {1, 4, 6, 6, 8});
    got.fill_nan();
    vconv::conv(x.view(), w.view(), got.view(), p.params(), forced);
    SCOPED_TRACE(c.name);
    expect_close(got, values(expected));
    ++staged;
  }
  EXPECT_GE(staged, 3);  // cpu_gemm, depth_tap and the Winograd convs
  forced.algorithm = "reference";
  EXPECT_EQ(vconv::plan_conv(x.view(), w.view(), p.params(), forced).staging, "");
  // The plan cache tells a call with a prologue from one without.
  HostTensor plain(DType::f32, {1, 4, 6, 6, 8}), fused(DType::f32, {1, 4, 6, 6, 8});
  vconv::conv(x.view(), w.view(), plain.view(), p.params());
  vconv::conv(x.view(), w.view(), fused.view(), p.params(), o);
  bool differs = false;
  for (int64_t i = 0; i < plain.numel(); ++i) differs = differs || plain.get(i) != fused.get(i);
  EXPECT_TRUE(differs);
}

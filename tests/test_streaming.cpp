// Streaming causal convs (Options::frame_cache): a sequence run in chunks, each call continuing
// from the cache the previous one wrote, equals one call of the same algorithm over the whole
// sequence bitwise, and writes the reference's `next` bitwise; the cache's validation; algorithms
// that do not read a cache say so.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/host_tensor.h"
#include "vconv/vconv.h"

using vconv::testing::HostTensor;

namespace {

constexpr int64_t kH = 3, kW = 4, kC = 3, kO = 2;

// The causal problem of a KD x 3 x 3 kernel: F = (KD - 1) * dilation frames before, none after.
vconv::ConvParams causal_params(int64_t kd, int64_t dilation, vconv::PadMode mode) {
  vconv::ConvParams p;
  p.padding_lo = {(kd - 1) * dilation, 1, 1};
  p.padding_hi = {0, 1, 1};
  p.kernel_dilation = {dilation, 1, 1};
  p.pad_mode = {mode, mode, mode};
  return p;
}

// Frames [first, first + count) of a [N, T, H, W, C] tensor, as a strided view into it.
vconv::TensorView frames(HostTensor& t, int64_t first, int64_t count) {
  vconv::TensorView v = t.view();
  v.data = static_cast<char*>(v.data) + first * t.strides()[1] * vconv::dtype_size(t.dtype());
  v.shape[1] = count;
  return v;
}

bool same_bytes(const HostTensor& a, const HostTensor& b) {
  return a.storage_bytes() == b.storage_bytes() &&
         std::memcmp(const_cast<HostTensor&>(a).storage(), const_cast<HostTensor&>(b).storage(),
                     a.storage_bytes()) == 0;
}

struct StreamCase {
  int64_t kd, dilation, n;
  vconv::PadMode mode;
  std::vector<int64_t> chunks;
  vconv::DType dtype = vconv::DType::f32;
  std::string algorithm = "reference";  // forced on every call, chunked and whole
};

std::string describe(const StreamCase& c) {
  std::string s = "kd=" + std::to_string(c.kd) + " dilation=" + std::to_string(c.dilation) +
                  " n=" + std::to_string(c.n) +
                  (c.mode == vconv::PadMode::zeros ? " zeros" : " replicate") + " chunks=";
  for (int64_t t : c.chunks) s += std::to_string(t) + ",";
  return s + " " + vconv::dtype_name(c.dtype) + " " + c.algorithm;
}

// Runs the case's chunks in sequence with the cache, and once over the whole sequence, all on the
// case's algorithm; checks the outputs are equal bitwise, that each call's `next` holds the last
// F frames, and that it is bitwise the reference's `next` from the same `previous`.
void check_stream(const StreamCase& c) {
  SCOPED_TRACE(describe(c));
  const int64_t f = (c.kd - 1) * c.dilation;
  int64_t total = 0;
  for (int64_t t : c.chunks) total += t;
  std::mt19937_64 rng(static_cast<uint64_t>(c.kd * 1000 + c.dilation * 100 + total + c.n));
  HostTensor x(c.dtype, {c.n, total, kH, kW, kC}), w(c.dtype, {kO, c.kd, 3, 3, kC});
  x.fill_normal(rng);
  w.fill_normal(rng);
  const vconv::ConvParams params = causal_params(c.kd, c.dilation, c.mode);

  HostTensor whole(c.dtype, {c.n, total, kH, kW, kO}), chunked(c.dtype, {c.n, total, kH, kW, kO});
  whole.fill_nan();
  chunked.fill_nan();
  vconv::Options forced;
  forced.algorithm = c.algorithm;
  vconv::conv(x.view(), w.view(), whole.view(), params, forced);

  // Two caches, swapped between calls: each call reads one and writes the other.
  HostTensor cache_a(c.dtype, {c.n, f, kH, kW, kC}), cache_b(c.dtype, {c.n, f, kH, kW, kC});
  HostTensor* previous = nullptr;
  HostTensor* next = &cache_a;
  HostTensor reference_next(c.dtype, {c.n, f, kH, kW, kC});
  HostTensor reference_out(c.dtype, {c.n, total, kH, kW, kO});
  int64_t start = 0;
  for (int64_t t : c.chunks) {
    next->fill_nan();
    reference_next.fill_nan();
    vconv::Options o = forced;
    if (previous) o.frame_cache.previous = previous->view();
    o.frame_cache.next = next->view();
    vconv::conv(frames(x, start, t), w.view(), frames(chunked, start, t), params, o);
    vconv::Options r = o;
    r.algorithm = "reference";
    r.frame_cache.next = reference_next.view();
    vconv::conv(frames(x, start, t), w.view(), frames(reference_out, start, t), params, r);
    EXPECT_TRUE(same_bytes(*next, reference_next)) << "next after frame " << start + t;
    start += t;
    // Frame j of `next` is frame start - f + j of the sequence; before frame 0, the pad mode's.
    for (int64_t i = 0; i < next->numel(); ++i) {
      const int64_t channel_pixel = i % (kH * kW * kC);
      const int64_t j = i / (kH * kW * kC) % f, n = i / (f * kH * kW * kC);
      const int64_t q = start - f + j;
      double expected = 0;
      if (q >= 0 || c.mode == vconv::PadMode::replicate) {
        const int64_t frame = q < 0 ? 0 : q;
        expected = x.get((n * total + frame) * kH * kW * kC + channel_pixel);
      }
      ASSERT_EQ(next->get(i), expected) << "next element " << i << " after frame " << start;
    }
    previous = next;
    next = next == &cache_a ? &cache_b : &cache_a;
  }
  EXPECT_TRUE(same_bytes(whole, chunked));
}

}  // namespace

TEST(Streaming, ChunksEqualOneCallBitwise) {
  const std::vector<std::vector<int64_t>> splits{{1, 1, 1, 1, 1, 1}, {2, 3}, {3, 1, 4}, {5}};
  for (int64_t kd : {2, 3})
    for (int64_t dilation : {1, 2})
      for (vconv::PadMode mode : {vconv::PadMode::zeros, vconv::PadMode::replicate})
        for (int64_t n : {1, 2})
          for (const auto& chunks : splits) check_stream({kd, dilation, n, mode, chunks});
}

TEST(Streaming, HalfPrecisionChunksEqualOneCallBitwise) {
  for (const char* algorithm : {"reference", "depth_tap"}) {
    check_stream({3, 1, 2, vconv::PadMode::replicate, {3, 1, 4}, vconv::DType::bf16, algorithm});
    check_stream({2, 2, 1, vconv::PadMode::zeros, {1, 2, 2}, vconv::DType::f16, algorithm});
  }
}

// Bitwise, not merely within fp32 rounding: depth_tap sums, per output, its taps in the order
// kd = 0, 1, ... into one fp32 accumulator (a tap in zero padding is skipped in both runs; a
// cached frame is the same bytes the whole call reads from its input), and each tap's 2D conv
// computes an output from its own frame alone, in an order that, for the 2D algorithms the planner
// picks here, does not depend on how many frames the batch holds (cpu_gemm, for one, chunks its
// rows within a frame).
// Were the planner to run one tap's batches of different sizes on different 2D algorithms, the
// stream would equal one call only within fp32 rounding.
TEST(Streaming, DepthTapChunksEqualOneCallBitwise) {
  const std::vector<std::vector<int64_t>> splits{{1, 1, 1, 1, 1, 1}, {2, 3}, {3, 1, 4}, {5}};
  for (int64_t kd : {2, 3})
    for (int64_t dilation : {1, 2})
      for (vconv::PadMode mode : {vconv::PadMode::zeros, vconv::PadMode::replicate})
        for (int64_t n : {1, 2})
          for (const auto& chunks : splits)
            check_stream({kd, dilation, n, mode, chunks, vconv::DType::f32, "depth_tap"});
}

namespace {

// A call of a causal KD = 3 problem (F = 2) over 4 frames whose options.frame_cache is `cache`,
// expected to throw an error that contains `message`.
void expect_cache_error(const vconv::FrameCache& cache, const std::string& message,
                        const vconv::ConvParams& params = causal_params(3, 1,
                                                                        vconv::PadMode::zeros),
                        HostTensor* input = nullptr, HostTensor* output = nullptr) {
  HostTensor x(vconv::DType::f32, {1, 4, kH, kW, kC}), w(vconv::DType::f32, {kO, 3, 3, 3, kC});
  HostTensor y(vconv::DType::f32, vconv::conv_output_shape(x.shape(), w.shape(), params));
  vconv::Options o;
  o.frame_cache = cache;
  try {
    vconv::conv(input ? input->view() : x.view(), w.view(), output ? output->view() : y.view(),
                params, o);
    ADD_FAILURE() << "no error; expected one containing '" << message << "'";
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Streaming, CacheErrorsAreNamed) {
  using vconv::DType;
  HostTensor three_frames(DType::f32, {1, 3, kH, kW, kC});
  expect_cache_error({three_frames.view(), {}},
                     "options.frame_cache.previous: shape [1, 3, 3, 4, 3]");
  expect_cache_error({{}, three_frames.view()}, "options.frame_cache.next: shape [1, 3, 3, 4, 3]");
  HostTensor wrong_width(DType::f32, {1, 2, kH, kW + 1, kC});
  expect_cache_error({wrong_width.view(), {}}, "options.frame_cache.previous: shape");
  HostTensor half(DType::bf16, {1, 2, kH, kW, kC});
  expect_cache_error({half.view(), {}}, "options.frame_cache.previous: dtype mismatch");
  HostTensor cache(DType::f32, {1, 2, kH, kW, kC});
  vconv::ConvParams centred = causal_params(3, 1, vconv::PadMode::zeros);
  centred.padding_lo[0] = centred.padding_hi[0] = 1;
  expect_cache_error({cache.view(), {}},
                     "options.frame_cache: time padding 1:1; expected the causal 2:0", centred);
  vconv::ConvParams strided = causal_params(3, 1, vconv::PadMode::zeros);
  strided.stride = {2, 1, 1};
  expect_cache_error({cache.view(), {}}, "options.frame_cache: time stride 2", strided);
  // `next` written over the output it is computed beside.
  HostTensor y(DType::f32, {1, 4, kH, kW, kO});
  vconv::TensorView over_output = y.view();
  over_output.shape = {1, 2, kH, kW, kC};
  over_output.strides = {};
  expect_cache_error({{}, over_output}, "options.frame_cache.next: overlaps the output",
                     causal_params(3, 1, vconv::PadMode::zeros), nullptr, &y);
  expect_cache_error({cache.view(), cache.view()},
                     "options.frame_cache.next: overlaps options.frame_cache.previous");
  // One frame of F = 2 leaves a frame before it that only zero padding defines.
  HostTensor one_frame(DType::f32, {1, 1, kH, kW, kC});
  expect_cache_error(
      {one_frame.view(), {}},
      "options.frame_cache.previous: shape [1, 1, 3, 4, 3], expected [1, 2, 3, 4, 3]",
      causal_params(3, 1, vconv::PadMode::replicate));
  expect_cache_error({{}, one_frame.view()}, "options.frame_cache.next: shape [1, 1, 3, 4, 3]");
}

namespace {

// A cache of fewer than F frames under zero time padding (P = 1 of F = 2: Wan's decoder after a
// one-frame first chunk): the frames before it are zeros, as in one call over the whole sequence;
// `next` then takes its first frame from that short cache, as the reference's does.
void check_short_cache(const std::string& algorithm) {
  SCOPED_TRACE(algorithm);
  std::mt19937_64 rng(11);
  const int64_t total = 4;
  HostTensor x(vconv::DType::f32, {2, total, kH, kW, kC}), w(vconv::DType::f32, {kO, 3, 3, 3, kC});
  x.fill_normal(rng);
  w.fill_normal(rng);
  const vconv::ConvParams params = causal_params(3, 1, vconv::PadMode::zeros);
  HostTensor whole(vconv::DType::f32, {2, total, kH, kW, kO});
  HostTensor chunked(vconv::DType::f32, {2, total, kH, kW, kO});
  whole.fill_nan();
  chunked.fill_nan();
  vconv::Options forced;
  forced.algorithm = algorithm;
  vconv::conv(x.view(), w.view(), whole.view(), params, forced);
  // Frame 0 alone, then frames 1-3 with frame 0 as a one-frame cache, writing a full `next`.
  vconv::conv(frames(x, 0, 1), w.view(), frames(chunked, 0, 1), params, forced);
  vconv::Options o = forced;
  o.frame_cache.previous = frames(x, 0, 1);
  HostTensor next(vconv::DType::f32, {2, 2, kH, kW, kC}),
      expected_next(vconv::DType::f32, {2, 2, kH, kW, kC});
  next.fill_nan();
  expected_next.fill_nan();
  o.frame_cache.next = next.view();
  vconv::conv(frames(x, 1, total - 1), w.view(), frames(chunked, 1, total - 1), params, o);
  EXPECT_TRUE(same_bytes(whole, chunked));
  // A chunk of one frame after a one-frame cache: `next` is the cached frame, then the chunk's.
  HostTensor scratch(vconv::DType::f32, {2, 1, kH, kW, kO});
  vconv::conv(frames(x, 1, 1), w.view(), scratch.view(), params, o);
  vconv::Options r = o;
  r.algorithm = "reference";
  r.frame_cache.next = expected_next.view();
  vconv::conv(frames(x, 1, 1), w.view(), scratch.view(), params, r);
  EXPECT_TRUE(same_bytes(next, expected_next));
}

}  // namespace

TEST(Streaming, ShortCacheContinuesLikeOneCall) {
  check_short_cache("reference");
  check_short_cache("depth_tap");
}

TEST(Streaming, TwoDimensionalProblemIsRefused) {
  HostTensor x(vconv::DType::f32, {1, 4, kW, kC}), w(vconv::DType::f32, {kO, 3, 3, kC});
  HostTensor y(vconv::DType::f32, {1, 4, kW, kO}), cache(vconv::DType::f32, {1, 2, kW, kC});
  vconv::ConvParams p;
  p.padding_lo = {2, 1};
  p.padding_hi = {0, 1};
  vconv::Options o;
  o.frame_cache.previous = cache.view();
  try {
    vconv::conv(x.view(), w.view(), y.view(), p, o);
    ADD_FAILURE() << "no error for a 2D problem with a frame cache";
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("options.frame_cache: a 2D problem; expected a 3D one"),
              std::string::npos)
        << e.what();
  }
}

TEST(Streaming, OtherAlgorithmsSayWhyNot) {
  // A Wan-like causal 3x3x3 conv, large enough that a fast algorithm beats the reference.
  const auto p = vconv::parse_problem("f32 n=1 in=4x16x16 c=32 o=32 k=3x3x3 p=2:0x1x1");
  HostTensor cache(vconv::DType::f32, {1, 2, 16, 16, 32});
  vconv::Options o;
  o.frame_cache.previous = cache.view();
  const auto without_cache = vconv::conv_candidates(p, vconv::Device::cpu());
  const auto plan = vconv::plan_conv(p, vconv::Device::cpu(), o);
  // The planner streams on the CPU's fast path: depth_tap reads the cache.
  EXPECT_EQ(plan.algorithm, "depth_tap");
  const std::vector<std::string> readers{"reference", "depth_tap"};
  int refused_for_the_cache = 0;
  for (size_t i = 0; i < plan.candidates.size(); ++i) {
    const auto& c = plan.candidates[i];
    if (!without_cache[i].valid) continue;
    if (std::find(readers.begin(), readers.end(), c.name) != readers.end()) {
      EXPECT_TRUE(c.valid) << c.name << ": " << c.why_not;
      continue;
    }
    EXPECT_FALSE(c.valid) << c.name;
    EXPECT_NE(c.why_not.find("does not read a frame cache"), std::string::npos) << c.why_not;
    ++refused_for_the_cache;
  }
  EXPECT_GT(refused_for_the_cache, 0);
  o.algorithm = "cpu_gemm";
  EXPECT_THROW(vconv::plan_conv(p, vconv::Device::cpu(), o), vconv::Error);
}

TEST(Streaming, PlanCacheTellsCallsWithACacheApart) {
  // The same problem planned first without a cache (another algorithm may win and be cached),
  // then with one: the second call must still read the cache.
  std::mt19937_64 rng(5);
  HostTensor x(vconv::DType::f32, {1, 4, kH, kW, kC}), w(vconv::DType::f32, {kO, 3, 3, 3, kC});
  HostTensor cache(vconv::DType::f32, {1, 2, kH, kW, kC});
  x.fill_normal(rng);
  w.fill_normal(rng);
  cache.fill_normal(rng);
  const vconv::ConvParams params = causal_params(3, 1, vconv::PadMode::zeros);
  HostTensor plain(vconv::DType::f32, {1, 4, kH, kW, kO}),
      streamed(vconv::DType::f32, {1, 4, kH, kW, kO}),
      expected(vconv::DType::f32, {1, 4, kH, kW, kO});
  vconv::conv(x.view(), w.view(), plain.view(), params);
  vconv::Options o;
  o.frame_cache.previous = cache.view();
  vconv::conv(x.view(), w.view(), streamed.view(), params, o);
  // What the planner's choice for a streaming call computes when forced (a stale plan from the
  // call without a cache would not have read it).
  const auto problem = vconv::parse_problem("f32 n=1 in=4x3x4 c=3 o=2 k=3x3x3 p=2:0x1x1");
  o.algorithm = vconv::plan_conv(problem, vconv::Device::cpu(), o).algorithm;
  vconv::conv(x.view(), w.view(), expected.view(), params, o);
  EXPECT_TRUE(same_bytes(streamed, expected));
  EXPECT_FALSE(same_bytes(streamed, plain));
}

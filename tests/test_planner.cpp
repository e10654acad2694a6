// The planner: candidates, reasons, forcing, conv()'s plan cache, and the output-shape helpers
// it relies on.
#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <vector>

#include "common/host_tensor.h"
#include "core/plan_cache.h"
#include "vconv/vconv.h"

using vconv::testing::HostTensor;

TEST(Planner, ListsEveryAlgorithmWithValidity) {
  const auto p = vconv::parse_problem("f32 n=1 in=5x8x8 c=4 o=4 k=3x3x3 p=2:0x1x1");
  const auto plan = vconv::plan_conv(p, vconv::Device::cpu());
  EXPECT_EQ(plan.candidates.size(), vconv::algorithm_names().size());
  EXPECT_FALSE(plan.algorithm.empty());
  EXPECT_FALSE(plan.reason.empty());
  bool chosen_is_valid = false;
  for (const auto& c : plan.candidates) {
    if (c.valid) {
      EXPECT_TRUE(c.why_not.empty());
      EXPECT_GT(c.estimate_ms, 0);
    } else {
      EXPECT_FALSE(c.why_not.empty()) << c.name;
    }
    chosen_is_valid |= c.valid && c.name == plan.algorithm;
  }
  EXPECT_TRUE(chosen_is_valid);
  EXPECT_NE(plan.to_string().find("reason: "), std::string::npos);
}

TEST(Planner, NoValidAlgorithmSaysWhy) {
  if (vconv::cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  const auto p = vconv::parse_problem("f32 in=5x8x8 c=4 o=4 k=3x3x3");
  try {
    vconv::plan_conv(p, vconv::Device::cuda(0));
    // With CUDA algorithms registered a CUDA plan may exist; then it must name one.
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("reference: runs on the CPU only"), std::string::npos)
        << e.what();
  }
}

TEST(Planner, ForcedAlgorithmIsReported) {
  const auto p = vconv::parse_problem("bf16 in=9 c=2 o=2 k=3");
  vconv::Options o;
  o.algorithm = "reference";
  const auto plan = vconv::plan_conv(p, vconv::Device::cpu(), o);
  EXPECT_EQ(plan.algorithm, "reference");
  EXPECT_EQ(plan.reason, "forced by options.algorithm");
}

TEST(OutputShape, MlxFormula) {
  vconv::ConvParams p;
  p.stride = {2};
  p.padding_lo = {3};
  p.padding_hi = {1};
  p.kernel_dilation = {2};
  p.input_dilation = {3};
  // dilated input (10-1)*3+1 = 28, padded 32, dilated kernel 5: (32-5)/2+1 = 14.
  EXPECT_EQ(vconv::conv_output_shape({2, 10, 6}, {4, 3, 6}, p), (std::vector<int64_t>{2, 14, 4}));
}

TEST(OutputShape, TransposeParamsMatchMlx) {
  const auto p =
      vconv::conv_transpose_params({3, 4, 4}, {1, 2, 2}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, 2);
  EXPECT_TRUE(p.flip);
  EXPECT_EQ(p.groups, 2);
  EXPECT_EQ(p.input_dilation, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(p.padding_lo, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(p.padding_hi, (std::vector<int64_t>{1, 3, 3}));
  // PyTorch: (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
  EXPECT_EQ(vconv::conv_output_shape({1, 5, 8, 8, 4}, {6, 3, 4, 4, 2}, p),
            (std::vector<int64_t>{1, 5, 17, 17, 6}));
}

namespace {

// Random input and weight of `problem`, its output poisoned, and the reference's result.
struct Tensors {
  HostTensor x, w, y, ref;
  explicit Tensors(const vconv::Problem& p, uint64_t seed)
      : x(p.dtype, p.input_shape()),
        w(p.dtype, p.weight_shape()),
        y(p.dtype, p.output_shape()),
        ref(p.dtype, p.output_shape()) {
    std::mt19937_64 rng(seed);
    x.fill_uniform(rng);
    w.fill_uniform(rng);
    y.fill_nan();
    vconv::conv_reference(x.view(), w.view(), ref.view(), p.params());
  }
  void run(const vconv::Problem& p, const vconv::Options& o = {}) {
    vconv::conv(x.view(), w.view(), y.view(), p.params(), o);
  }
};

}  // namespace

TEST(PlanCache, SecondCallReusesThePlan) {
  const auto p = vconv::parse_problem("f32 in=3x5x5 c=8 o=8 k=1x1x1");
  Tensors t(p, 1);
  vconv::clear_plan_cache();
  t.run(p);
  auto s = vconv::plan_cache_stats();
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.hits, 0);
  EXPECT_EQ(s.entries, 1u);
  t.y.fill_nan();
  t.run(p);
  s = vconv::plan_cache_stats();
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.hits, 1);
  EXPECT_TRUE(vconv::testing::compare(t.y, t.ref).within(1e-5));

  // The options that change the choice are part of the key.
  vconv::Options tf32;
  tf32.fp32_math = vconv::Fp32Math::tf32;
  t.run(p, tf32);
  EXPECT_EQ(vconv::plan_cache_stats().entries, 2u);
  vconv::Options forced;
  forced.algorithm = "winograd_f4x3";  // a 3x3 algorithm: this 1x1x1 problem is not its to run
  EXPECT_THROW(t.run(p, forced), vconv::Error);
  forced.algorithm = "reference";
  t.y.fill_nan();
  t.run(p, forced);
  EXPECT_TRUE(vconv::testing::compare(t.y, t.ref).within(1e-12));
  EXPECT_EQ(vconv::plan_cache_stats().entries, 3u);
  // The epilogue decides which algorithms are valid (those that apply it).
  vconv::Options silu;
  silu.epilogue.activation = vconv::Activation::silu;
  t.run(p, silu);
  EXPECT_EQ(vconv::plan_cache_stats().entries, 4u);
  // So does the workspace bound (depth_tap is not valid when its accumulator exceeds it).
  vconv::Options small;
  small.workspace_bytes = 1;
  t.run(p, small);
  EXPECT_EQ(vconv::plan_cache_stats().entries, 5u);
}

TEST(PlanCache, ConcurrentCallsFromSeveralThreadsMatchTheReference) {
  const std::vector<vconv::Problem> problems{
      vconv::parse_problem("f32 in=3x6x6 c=8 o=8 k=1x1x1"),
      vconv::parse_problem("f32 in=4x6x6 c=4 o=8 k=3x3x3 p=2:0x1x1 pm=replicate"),
      vconv::parse_problem("bf16 in=9x7 c=6 o=4 k=3x2 s=2 g=2")};
  vconv::clear_plan_cache();
  constexpr int kThreads = 4, kCalls = 30;
  std::vector<std::vector<bool>> correct(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      std::vector<Tensors> tensors;
      for (size_t j = 0; j < problems.size(); ++j) tensors.emplace_back(problems[j], 10 * i + j);
      for (int call = 0; call < kCalls; ++call) {
        const size_t j = (call + i) % problems.size();
        tensors[j].y.fill_nan();
        tensors[j].run(problems[j]);
        const double tol = vconv::testing::tolerance(problems[j].dtype);
        correct[i].push_back(vconv::testing::compare(tensors[j].y, tensors[j].ref).within(tol));
      }
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i)
    for (int call = 0; call < kCalls; ++call)
      EXPECT_TRUE(correct[i][call]) << "thread " << i << ", call " << call;
  // Each thread's conv_reference() calls are conv() calls too, under a plan of their own.
  const auto s = vconv::plan_cache_stats();
  const int64_t planned = 2 * static_cast<int64_t>(problems.size());
  EXPECT_EQ(s.entries, static_cast<size_t>(planned));
  EXPECT_EQ(s.hits + s.misses, kThreads * (kCalls + static_cast<int64_t>(problems.size())));
  EXPECT_LE(s.misses, kThreads * planned);
}

TEST(PlanCache, HoldsAtMostItsCapacity) {
  vconv::clear_plan_cache();
  auto plan = std::make_shared<vconv::CachedPlan>();
  vconv::PlanKey key{vconv::parse_problem("f32 in=4 c=1 o=1 k=1"), vconv::Device::cpu()};
  for (size_t i = 0; i < vconv::kPlanCacheCapacity + 10; ++i) {
    key.problem.n = static_cast<int64_t>(i + 1);
    vconv::store_plan(key, plan);
  }
  EXPECT_EQ(vconv::plan_cache_stats().entries, vconv::kPlanCacheCapacity);
  EXPECT_NE(vconv::find_plan(key), nullptr);  // the newest is kept
  vconv::clear_plan_cache();
}

namespace {

// An algorithm that runs everything but does not apply the epilogue.
class WithoutEpilogue final : public vconv::Algorithm {
 public:
  const char* name() const override { return "without_epilogue"; }
  std::string why_not(const vconv::Problem&, vconv::Device) const override { return {}; }
  double estimate_ms(const vconv::Problem&, vconv::Device, const vconv::Options&) const override {
    return 0;
  }
  void run(const vconv::ConvArgs&) const override {}
};

}  // namespace

TEST(Planner, AnAlgorithmWithoutTheEpilogueIsNotValidForOne) {
  const auto p = vconv::parse_problem("f32 in=4x6x6 c=8 o=16 k=3x3x3");
  const WithoutEpilogue algorithm;
  vconv::Options o;
  EXPECT_EQ(vconv::why_not_planned(algorithm, p, vconv::Device::cpu(), o), "");
  o.epilogue.activation = vconv::Activation::silu;
  EXPECT_NE(vconv::why_not_planned(algorithm, p, vconv::Device::cpu(), o).find("epilogue"),
            std::string::npos);
  // Every CPU algorithm applies it: the planner's verdicts do not change with an epilogue.
  for (const auto& c : vconv::plan_conv(p, vconv::Device::cpu(), o).candidates)
    EXPECT_EQ(c.why_not.find("epilogue"), std::string::npos) << c.name << ": " << c.why_not;
}

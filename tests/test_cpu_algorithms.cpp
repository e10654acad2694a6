// Every CPU algorithm against the reference on fresh random data with poisoned outputs, plus the
// properties the CPU issue names: zeros of input dilation skipped, Winograd's fp32 error at
// C = 512, results independent of the thread count, the autotune cache.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "common/autotune_file.h"
#include "common/cases.h"
#include "core/autotune.h"
#include "cpu/conv_gemm.h"
#include "vconv/vconv.h"

using vconv::DType;
using vconv::PadMode;
using vconv::Problem;
using vconv::testing::HostTensor;

namespace {

const std::vector<std::string> kCpuAlgorithms{"cpu_pointwise", "depth_tap", "winograd_f4x3",
                                              "winograd_f2x3", "cpu_gemm"};

// On the CPU, fp32_math = tf32 admits every algorithm (winograd_f4x3 in fp32 too): the tests here
// check each against the reference under it; tests/test_accuracy.cpp holds the default options to
// their accuracy contract.
constexpr vconv::Fp32Math kEveryAlgorithm = vconv::Fp32Math::tf32;

vconv::testing::CheckOptions every_algorithm() {
  vconv::testing::CheckOptions o;
  o.fp32_math = kEveryAlgorithm;
  return o;
}

bool valid_on_cpu(const std::string& algo, const Problem& p) {
  vconv::Options o;
  o.fp32_math = kEveryAlgorithm;
  for (const auto& c : vconv::plan_conv(p, vconv::Device::cpu(), o).candidates)
    if (c.name == algo) return c.valid;
  ADD_FAILURE() << "unknown algorithm " << algo;
  return false;
}

void check_all(const Problem& p, std::mt19937_64& rng, int& checked) {
  for (const auto& algo : kCpuAlgorithms) {
    if (!valid_on_cpu(algo, p)) continue;
    vconv::testing::CheckOptions o = every_algorithm();
    o.strided = std::bernoulli_distribution(0.4)(rng);
    o.accumulate = std::bernoulli_distribution(0.25)(rng);
    const auto e = vconv::testing::check_algorithm(p, algo, rng, o);
    ++checked;
    ASSERT_TRUE(e.within(vconv::testing::tolerance(p.dtype)) && e.within_bound())
        << algo << (o.strided ? " strided" : "") << (o.accumulate ? " accumulate" : "") << " on '"
        << to_string(p) << "': " << e.to_string();
  }
}

}  // namespace

TEST(CpuAlgorithms, RandomProblemsOverEverySemantic) {
  std::mt19937_64 rng(21);
  int checked = 0;
  for (int i = 0; i < 600; ++i) check_all(vconv::testing::random_problem(rng), rng, checked);
  // Over one algorithm per problem on average, though about a quarter of the draws upsample or
  // move outputs depth-to-space, which only the reference applies on the CPU.
  EXPECT_GT(checked, 500);
}

TEST(CpuAlgorithms, VideoGrid) {
  std::mt19937_64 rng(22);
  int checked = 0, winograd = 0;
  for (int i = 0; i < 250; ++i) {
    const Problem p = vconv::testing::random_video_problem(rng);
    winograd += valid_on_cpu("winograd_f4x3", p);
    check_all(p, rng, checked);
  }
  EXPECT_GT(checked, 600);
  EXPECT_GT(winograd, 10);  // the grid must reach the Winograd path too
}

TEST(CpuAlgorithms, SeedCorrectnessTable) {
  // The seed's table recomputed: the decomposed paths against the reference, fp32, KD 1, 2, 3, 5.
  std::mt19937_64 rng(23);
  for (int64_t kd : {1, 2, 3, 5}) {
    const Problem p = vconv::parse_problem("f32 in=" + std::to_string(kd + 6) +
                                           "x12x12 c=32 o=16 k=" + std::to_string(kd) + "x3x3");
    for (const std::string algo : {"depth_tap", "winograd_f4x3", "cpu_gemm"}) {
      const auto e = vconv::testing::check_algorithm(p, algo, rng, every_algorithm());
      std::printf("seed table KD=%lld %-14s %s\n", static_cast<long long>(kd), algo.c_str(),
                  e.to_string().c_str());
      EXPECT_TRUE(e.within(1e-5)) << algo << " KD=" << kd << ": " << e.to_string();
    }
  }
}

TEST(CpuAlgorithms, WinogradErrorAtC512) {
  std::mt19937_64 rng(24);
  for (const char* line :
       {"f32 in=12x12 c=512 o=32 k=3x3 p=1", "f32 in=3x8x8 c=512 o=16 k=3x3x3 p=1"}) {
    const Problem p = vconv::parse_problem(line);
    for (const std::string algo : {"winograd_f4x3", "winograd_f2x3"}) {
      const auto e = vconv::testing::check_algorithm(p, algo, rng, every_algorithm());
      std::printf("%s %s: %s\n", algo.c_str(), line, e.to_string().c_str());
      EXPECT_LE(e.rel_l2, 1e-5) << algo << " " << line;
    }
  }
}

TEST(CpuAlgorithms, FlipMirrorsDepthInDepthTap) {
  // MLX's decomposition returned wrong results under flip; check flip with asymmetric KD taps.
  std::mt19937_64 rng(25);
  for (const char* line :
       {"f32 in=7x5x5 c=3 o=2 k=3x3x3 p=2:0x1x1 flip", "bf16 n=2 in=6x4x4 c=4 o=4 k=2x1x1 flip"})
    for (const std::string algo : {"depth_tap", "winograd_f4x3", "cpu_gemm"}) {
      const Problem p = vconv::parse_problem(line);
      if (!valid_on_cpu(algo, p)) continue;
      const auto e = vconv::testing::check_algorithm(p, algo, rng, every_algorithm());
      EXPECT_TRUE(e.within(vconv::testing::tolerance(p.dtype)))
          << algo << " " << line << ": " << e.to_string();
    }
}

TEST(CpuAlgorithms, InputDilationSkipsInsertedZeros) {
  // A stride-2, kernel-2 transposed conv: each output reads one real sample per dimension, so the
  // phase split does 1/8 of the dense multiply-accumulates.
  const auto params =
      vconv::conv_transpose_params({2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}, {0, 0, 0});
  const Problem p = vconv::make_problem({1, 4, 5, 6, 8}, {4, 2, 2, 2, 8}, params);
  EXPECT_EQ(vconv::cpu::gemm_macs(p) * 8, p.macs());
  std::mt19937_64 rng(26);
  EXPECT_TRUE(vconv::testing::check_algorithm(p, "cpu_gemm", rng).within(1e-5));
}

TEST(CpuAlgorithms, PlannerSendsPointwiseToOneGemm) {
  const auto plan = vconv::plan_conv(vconv::parse_problem("f32 in=9x16x16 c=64 o=64 k=1x1x1"),
                                     vconv::Device::cpu());
  EXPECT_EQ(plan.algorithm, "cpu_pointwise") << plan.to_string();
}

TEST(CpuAlgorithms, BitwiseIdenticalForAnyThreadCount) {
  std::mt19937_64 rng(27);
  const int threads = omp_get_max_threads();
  for (const char* line :
       {"f32 n=2 in=5x17x19 c=24 o=20 k=3x3x3 p=2:0x1x1", "bf16 in=9x33 c=16 o=8 k=3x3 p=1",
        "f32 in=6x7x9 c=40 o=24 k=1x1x1", "f16 in=4x9x9 c=6 o=6 k=3x3x3 s=2 p=1 pm=reflect",
        // Pointwise with N * groups = 1 over several chunks of rows.
        "f32 in=9x16x16 c=64 o=64 k=1x1x1", "bf16 in=3x20x20 c=200 o=72 k=1x1x1"}) {
    const Problem p = vconv::parse_problem(line);
    HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape());
    x.fill_uniform(rng);
    w.fill_uniform(rng);
    for (const auto& algo : kCpuAlgorithms) {
      if (!valid_on_cpu(algo, p)) continue;
      HostTensor y1(p.dtype, p.output_shape()), y2(p.dtype, p.output_shape());
      vconv::Options o;
      o.algorithm = algo;
      o.fp32_math = kEveryAlgorithm;
      omp_set_num_threads(1);
      vconv::conv(x.view(), w.view(), y1.view(), p.params(), o);
      omp_set_num_threads(2);
      vconv::conv(x.view(), w.view(), y2.view(), p.params(), o);
      const size_t bytes = static_cast<size_t>(y1.numel() * vconv::dtype_size(p.dtype));
      EXPECT_EQ(std::memcmp(y1.view().data, y2.view().data, bytes), 0) << algo << " " << line;
    }
  }
  omp_set_num_threads(threads);
}

TEST(Autotune, PicksAValidAlgorithmAndCachesItInAFile) {
  const vconv::testing::ScopedAutotuneFile cache_file(::testing::TempDir() +
                                                      "vconv_autotune_cache.txt");
  const std::string& path = cache_file.path();
  std::mt19937_64 rng(28);
  const Problem p = vconv::parse_problem("f32 in=5x12x12 c=16 o=16 k=3x3x3 p=2:0x1x1");
  HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()),
      y(p.dtype, p.output_shape()), ref(p.dtype, p.output_shape());
  x.fill_uniform(rng);
  w.fill_uniform(rng);
  y.fill_nan();
  vconv::Options o;
  o.autotune = true;
  vconv::conv(x.view(), w.view(), y.view(), p.params(), o);
  vconv::conv_reference(x.view(), w.view(), ref.view(), p.params());
  EXPECT_TRUE(vconv::testing::compare(y, ref).within(1e-5));
  std::ifstream f(path);
  std::string header, entry;
  ASSERT_TRUE(std::getline(f, header) && std::getline(f, entry));
  EXPECT_EQ(header, "vconv-autotune v2");
  const std::string options = "fp32_math=exact epilogue=none workspace=268435456";
  EXPECT_EQ(entry.rfind(to_string(p) + "\tcpu\t", 0), 0u) << entry;
  EXPECT_EQ(entry.substr(entry.rfind('\t') + 1), options) << entry;

  // A stale entry (unknown algorithm) and a malformed line are ignored with warnings.
  std::ofstream(path, std::ios::app)
      << to_string(p) << "\tcpu\tretired_algorithm\t" << options << "\nnot a line\n";
  vconv::clear_autotune_cache();
  ::testing::internal::CaptureStderr();
  y.fill_nan();
  vconv::conv(x.view(), w.view(), y.view(), p.params(), o);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("unknown algorithm 'retired_algorithm'"), std::string::npos) << err;
  EXPECT_NE(err.find("malformed"), std::string::npos) << err;
  EXPECT_TRUE(vconv::testing::compare(y, ref).within(1e-5));

  // A file from another version (v1 keyed no options: a winner measured under tf32 would have
  // been taken under exact) is ignored whole, and replaced by this version's at the next write.
  std::ofstream(path) << "vconv-autotune v1\n" << to_string(p) << "\tcpu\twinograd_f4x3\n";
  vconv::clear_autotune_cache();
  ::testing::internal::CaptureStderr();
  vconv::conv(x.view(), w.view(), y.view(), p.params(), o);
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("corrupt or from another version"),
            std::string::npos);
  std::ifstream rewritten(path);
  ASSERT_TRUE(std::getline(rewritten, header));
  EXPECT_EQ(header, "vconv-autotune v2");
}

TEST(Autotune, KeysOnTheOptionsThatChangeTheWinner) {
  // A winner under fp32_math = tf32 (which admits winograd_f4x3) is never taken under exact: each
  // value is measured and kept apart, and so is each epilogue form.
  const vconv::testing::ScopedAutotuneFile cache_file(::testing::TempDir() +
                                                      "vconv_autotune_options.txt");
  const std::string& path = cache_file.path();
  std::mt19937_64 rng(29);
  const Problem p = vconv::parse_problem("f32 in=4x12x12 c=16 o=16 k=3x3x3 p=2:0x1x1");
  HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()),
      y(p.dtype, p.output_shape()), bias(p.dtype, {p.o});
  x.fill_uniform(rng);
  w.fill_uniform(rng);
  bias.fill_uniform(rng);
  vconv::Options o;
  o.autotune = true;
  o.fp32_math = vconv::Fp32Math::tf32;
  vconv::conv(x.view(), w.view(), y.view(), p.params(), o);
  o.fp32_math = vconv::Fp32Math::exact;
  vconv::conv(x.view(), w.view(), y.view(), p.params(), o);
  o.epilogue.bias = bias.view();
  vconv::conv(x.view(), w.view(), y.view(), p.params(), o);
  std::ifstream f(path);
  std::string line;
  std::vector<std::string> entries;
  std::getline(f, line);
  while (std::getline(f, line)) entries.push_back(line);
  ASSERT_EQ(entries.size(), 3u);
  std::map<std::string, std::string> winner;  // options -> algorithm
  for (const auto& e : entries) {
    const size_t a = e.find('\t'), b = e.find('\t', a + 1), c = e.find('\t', b + 1);
    winner[e.substr(c + 1)] = e.substr(b + 1, c - b - 1);  // problem, device, algorithm, options
  }
  ASSERT_EQ(winner.size(), 3u);
  for (const auto& [options, algo] : winner)
    if (options.find("fp32_math=exact") == 0) EXPECT_NE(algo, "winograd_f4x3") << options;
  EXPECT_TRUE(winner.count("fp32_math=exact epilogue=bias workspace=268435456"));
}

TEST(Autotune, ThreadsPlanningAndTuningAtOnceGetCorrectResults) {
  // Four threads, each running the same problems through conv() with autotune from a different
  // starting point: the plan cache, the winners and the file are shared; every result must match
  // the reference and the file hold each entry once.
  const vconv::testing::ScopedAutotuneFile cache_file(::testing::TempDir() +
                                                      "vconv_autotune_threads.txt");
  const std::string& path = cache_file.path();
  const std::vector<std::string> lines{
      "f32 in=4x8x8 c=8 o=8 k=3x3x3 p=1", "f32 in=10x10 c=8 o=4 k=3x3",
      "bf16 in=3x6x6 c=8 o=8 k=1x1x1", "f16 n=2 in=16 c=4 o=4 k=3 s=2"};
  std::vector<int> wrong(4, 0);
  auto run = [&](int thread) {
    for (size_t i = 0; i < lines.size() * 3; ++i) {
      const Problem p = vconv::parse_problem(lines[(thread + i) % lines.size()]);
      std::mt19937_64 rng(thread * 100 + i);
      HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()),
          y(p.dtype, p.output_shape()), ref(p.dtype, p.output_shape());
      x.fill_uniform(rng);
      w.fill_uniform(rng);
      y.fill_nan();
      vconv::Options o;
      o.autotune = true;
      vconv::conv(x.view(), w.view(), y.view(), p.params(), o);
      vconv::conv_reference(x.view(), w.view(), ref.view(), p.params());
      wrong[thread] += !vconv::testing::compare(y, ref).within(vconv::testing::tolerance(p.dtype));
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(run, t);
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line, "vconv-autotune v2");
  int entries = 0;
  while (std::getline(f, line)) {
    ++entries;
    EXPECT_EQ(std::count(line.begin(), line.end(), '\t'), 3) << line;
  }
  EXPECT_EQ(entries, static_cast<int>(lines.size()));
}

TEST(CpuAlgorithms, EpilogueMatchesTheReference) {
  // Bias, SiLU and both, a residual alone and after both, stored and accumulated, in every dtype.
  // depth_tap must apply it once, to the sum over its taps: applied per tap, the bias would count
  // KD times.
  struct Form {
    bool bias;
    vconv::Activation activation;
    bool residual;
  };
  const Form forms[] = {{true, vconv::Activation::none, false},
                        {false, vconv::Activation::silu, false},
                        {true, vconv::Activation::silu, false},
                        {false, vconv::Activation::none, true},
                        {true, vconv::Activation::silu, true}};
  std::mt19937_64 rng(28);
  std::map<std::string, int> checked;
  for (int i = 0; i < 100; ++i) {
    Problem drawn = i % 2 ? vconv::testing::random_video_problem(rng, 100000)
                          : vconv::testing::random_problem(rng, 100000);
    // Every tenth problem a fixed 1x1x1 conv, so that cpu_pointwise gets its share.
    if (i % 10 == 0) drawn = vconv::parse_problem("f32 n=2 in=3x4x5 c=12 o=10 k=1x1x1");
    for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
      const Problem p =
          vconv::make_problem(drawn.input_shape(), drawn.weight_shape(), drawn.params(), dtype);
      for (const Form& form : forms)
        for (bool accumulate : {false, true})
          for (const auto& algo : kCpuAlgorithms) {
            if (!valid_on_cpu(algo, p)) continue;
            vconv::testing::CheckOptions o = every_algorithm();
            o.bias = form.bias;
            o.activation = form.activation;
            o.residual = form.residual;
            o.accumulate = accumulate;
            o.strided = std::bernoulli_distribution(0.3)(rng);
            const auto e = vconv::testing::check_algorithm(p, algo, rng, o);
            ++checked[algo];
            ASSERT_TRUE(e.within(vconv::testing::tolerance(p.dtype)))
                << algo << (form.bias ? " bias" : "")
                << (form.activation == vconv::Activation::silu ? " silu" : "")
                << (form.residual ? " residual" : "") << (accumulate ? " accumulate" : "")
                << (o.strided ? " strided" : "") << " on '" << to_string(p)
                << "': " << e.to_string();
          }
    }
  }
  // At least two problems per algorithm in each of the 30 (dtype, form, accumulate) combinations.
  for (const auto& algo : kCpuAlgorithms) EXPECT_GE(checked[algo], 60) << algo;
}

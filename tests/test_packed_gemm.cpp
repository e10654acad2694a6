// The packed GEMM (src/cpu/packed_gemm.h) on every kernel this CPU runs: against a float64
// product on random sizes, strides and data, with poisoned outputs and guarded columns; and its
// claim that a row's result does not depend on how the rows are split between calls.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/cases.h"
#include "cpu/packed_gemm.h"
#include "vconv/error.h"
#include "vconv/vconv.h"

using vconv::cpu::GemmKernel;

namespace {

const GemmKernel kEveryKernel[] = {GemmKernel::portable, GemmKernel::avx2_fma, GemmKernel::avx512};

std::vector<GemmKernel> kernels_here() {
  std::vector<GemmKernel> k;
  for (GemmKernel kernel : kEveryKernel)
    if (vconv::cpu::gemm_kernel_runs(kernel)) k.push_back(kernel);
  return k;
}

std::vector<float> random_floats(std::mt19937_64& rng, int64_t count) {
  std::normal_distribution<float> d;
  std::vector<float> v(static_cast<size_t>(count));
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace

TEST(PackedGemm, MatchesFloat64OnRandomShapes) {
  std::mt19937_64 rng(91);
  const float kSentinel = 12345.0f;
  for (GemmKernel kernel : kernels_here()) {
    for (int trial = 0; trial < 300; ++trial) {
      auto draw = [&](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
      };
      const int64_t m = draw(1, 40), n = draw(1, 70), k = draw(0, 600);  // k blocks of 256
      const int64_t lda = k + draw(0, 3), ldb = n + draw(0, 3), ldc = n + draw(0, 5);
      const bool accumulate = trial % 3 == 0;
      const auto a = random_floats(rng, m * lda), b = random_floats(rng, k * ldb);
      std::vector<float> c = random_floats(rng, m * ldc);
      const std::vector<float> c0 = c;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < ldc; ++j) {
          float& y = c[i * ldc + j];
          if (j >= n)
            y = kSentinel;  // columns past n must stay as they are
          else if (!accumulate)
            y = std::numeric_limits<float>::quiet_NaN();
        }
      std::vector<float> packed(static_cast<size_t>(vconv::cpu::packed_b_floats(k, n)));
      vconv::cpu::pack_b(k, n, b.data(), ldb, packed.data());
      vconv::cpu::gemm_packed_b(m, n, k, a.data(), lda, packed.data(), c.data(), ldc, accumulate,
                                kernel);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < ldc; ++j) {
          const float got = c[i * ldc + j];
          if (j >= n) {
            ASSERT_EQ(got, kSentinel) << "column " << j << " past n = " << n << " was written";
            continue;
          }
          double want = accumulate ? c0[i * ldc + j] : 0.0, magnitude = std::fabs(want);
          for (int64_t kk = 0; kk < k; ++kk) {
            want += static_cast<double>(a[i * lda + kk]) * b[kk * ldb + j];
            magnitude += std::fabs(static_cast<double>(a[i * lda + kk]) * b[kk * ldb + j]);
          }
          // A sequential float sum of k + 1 terms: within (k + 1) * 2^-24 of their magnitudes.
          const double bound = (k + 2) * std::ldexp(1.0, -24) * magnitude + 1e-30;
          ASSERT_LE(std::fabs(got - want), bound)
              << to_string(kernel) << " m=" << m << " n=" << n << " k=" << k << " at (" << i << ", "
              << j << "): " << got << " against " << want;
        }
    }
  }
}

TEST(PackedGemm, RowsAgreeBitwiseHoweverSplit) {
  std::mt19937_64 rng(92);
  // The second size spans several row blocks and three k blocks.
  for (const auto [m, k] : {std::pair<int64_t, int64_t>{80, 131}, {200, 600}}) {
    const int64_t n = 37;
    const auto a = random_floats(rng, m * k), b = random_floats(rng, k * n);
    std::vector<float> packed(static_cast<size_t>(vconv::cpu::packed_b_floats(k, n)));
    vconv::cpu::pack_b(k, n, b.data(), n, packed.data());
    for (GemmKernel kernel : kernels_here()) {
      std::vector<float> whole(static_cast<size_t>(m * n)), split(whole.size());
      vconv::cpu::gemm_packed_b(m, n, k, a.data(), k, packed.data(), whole.data(), n, false,
                                kernel);
      // Rows in calls of 1, 2, 3, ... rows: each kernel's block of every row count runs.
      for (int64_t r0 = 0, len = 1; r0 < m; r0 += len, ++len) {
        const int64_t rows = std::min(len, m - r0);
        vconv::cpu::gemm_packed_b(rows, n, k, a.data() + r0 * k, k, packed.data(),
                                  split.data() + r0 * n, n, false, kernel);
      }
      EXPECT_EQ(whole, split) << to_string(kernel) << " m=" << m << " k=" << k;
    }
  }
}

TEST(PackedGemm, RefusesAKernelTheCpuLacks) {
  float a = 1, b[16] = {1}, c = 0;
  int refused = 0;
  for (GemmKernel kernel : kEveryKernel)
    if (!vconv::cpu::gemm_kernel_runs(kernel)) {
      EXPECT_THROW(vconv::cpu::gemm_packed_b(1, 1, 1, &a, 1, b, &c, 1, false, kernel), vconv::Error)
          << to_string(kernel);
      ++refused;
    }
  if (refused == 0) GTEST_SKIP() << "this CPU runs every kernel";
}

// Which kernels the tests above did not run, visibly: they run on a CPU that has them.
TEST(PackedGemm, EveryKernelRunsHere) {
  std::string missing;
  for (GemmKernel kernel : kEveryKernel)
    if (!vconv::cpu::gemm_kernel_runs(kernel)) missing += std::string(" ") + to_string(kernel);
  if (!missing.empty()) GTEST_SKIP() << "not tested on this CPU (it lacks their ISA):" << missing;
}

// The kernel the algorithms run: VCONV_CPU_GEMM_KERNEL's when set (tools/test.sh runs the
// sanitizer build's tests on the portable one; a CTest case sets a name that is no kernel), else
// the best the CPU runs.
TEST(PackedGemm, DefaultKernelFollowsTheEnvironment) {
  const char* name = std::getenv("VCONV_CPU_GEMM_KERNEL");
  if (name == nullptr || *name == '\0') {
    EXPECT_EQ(vconv::cpu::default_gemm_kernel(), vconv::cpu::best_gemm_kernel());
    return;
  }
  for (GemmKernel kernel : kEveryKernel)
    if (std::string(name) == vconv::cpu::to_string(kernel)) {
      if (vconv::cpu::gemm_kernel_runs(kernel))
        EXPECT_EQ(vconv::cpu::default_gemm_kernel(), kernel);
      else
        EXPECT_THROW(vconv::cpu::default_gemm_kernel(), vconv::Error);
      return;
    }
  try {
    vconv::cpu::default_gemm_kernel();
    FAIL() << "VCONV_CPU_GEMM_KERNEL=" << name << " was accepted";
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("VCONV_CPU_GEMM_KERNEL: '" + std::string(name) + "'"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("expected portable, avx2_fma or avx512"),
              std::string::npos)
        << e.what();
  }
}

// An unusable VCONV_CPU_GEMM_KERNEL reaches the caller of a conv as vconv::Error, from every
// algorithm that runs the packed GEMM (resolved before their parallel regions, which an exception
// cannot leave). Runs where the CTest case gemm_kernel_not_a_kernel sets the variable.
TEST(PackedGemm, AlgorithmsReportAnUnusableKernel) {
  const char* name = std::getenv("VCONV_CPU_GEMM_KERNEL");
  bool usable = true;
  try {
    vconv::cpu::default_gemm_kernel();
  } catch (const vconv::Error&) {
    usable = false;
  }
  if (usable) GTEST_SKIP() << "VCONV_CPU_GEMM_KERNEL is " << (name ? name : "unset") << ": usable";
  std::mt19937_64 rng(5);
  const vconv::Problem p = vconv::parse_problem("f32 in=3x8x8 c=8 o=8 k=3x3x3 p=1");
  const vconv::Problem pw = vconv::parse_problem("f32 in=3x8x8 c=8 o=8 k=1x1x1");
  for (const auto& [problem, algorithm] :
       {std::pair{p, "cpu_gemm"}, {p, "winograd_f2x3"}, {p, "depth_tap"}, {pw, "cpu_pointwise"}}) {
    vconv::testing::HostTensor x(problem.dtype, problem.input_shape()),
        w(problem.dtype, problem.weight_shape()), y(problem.dtype, problem.output_shape());
    x.fill_uniform(rng);
    w.fill_uniform(rng);
    vconv::Options o;
    o.algorithm = algorithm;
    try {
      vconv::conv(x.view(), w.view(), y.view(), problem.params(), o);
      ADD_FAILURE() << algorithm << " ran with an unusable VCONV_CPU_GEMM_KERNEL";
    } catch (const vconv::Error& e) {
      EXPECT_NE(std::string(e.what()).find("VCONV_CPU_GEMM_KERNEL"), std::string::npos)
          << algorithm << ": " << e.what();
    }
  }
}

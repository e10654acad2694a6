// The CPU's packed GEMM alone (src/cpu/packed_gemm.h), on one thread, for each kernel this CPU
// runs: `packed_gemm_bench M N K [M N K ...]`; A is M x K row-major, fresh per size. The best of
// 15 timings, each of as many products as take 2 ms, in GFLOP/s.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cpu/packed_gemm.h"

using vconv::cpu::GemmKernel;

int main(int argc, char** argv) {
  if (argc < 4 || (argc - 1) % 3 != 0) {
    std::fprintf(stderr, "usage: %s M N K [M N K ...]\n", argv[0]);
    return 2;
  }
  std::vector<GemmKernel> kernels;
  for (GemmKernel k : {GemmKernel::portable, GemmKernel::avx2_fma, GemmKernel::avx512})
    if (vconv::cpu::gemm_kernel_runs(k)) kernels.push_back(k);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (int i = 1; i + 2 < argc; i += 3) {
    const int64_t m = std::atoll(argv[i]), n = std::atoll(argv[i + 1]), k = std::atoll(argv[i + 2]);
    if (m <= 0 || n <= 0 || k <= 0) {
      std::fprintf(stderr, "M, N and K must be positive: '%s %s %s'\n", argv[i], argv[i + 1],
                   argv[i + 2]);
      return 2;
    }
    std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n)),
        c(static_cast<size_t>(m * n)),
        packed(static_cast<size_t>(vconv::cpu::packed_b_floats(k, n)));
    for (float& x : a) x = normal(rng);
    for (float& x : b) x = normal(rng);
    vconv::cpu::pack_b(k, n, b.data(), n, packed.data());
    for (GemmKernel kernel : kernels) {
      // Calls per timing: enough for 2 ms, so that small products are not timed cold.
      int64_t calls = 1;
      for (;;) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < calls; ++i)
          vconv::cpu::gemm_packed_b(m, n, k, a.data(), k, packed.data(), c.data(), n, false,
                                    kernel);
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > 2e-3)
          break;
        calls *= 2;
      }
      double best = 1e30;
      for (int rep = 0; rep < 15; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < calls; ++i)
          vconv::cpu::gemm_packed_b(m, n, k, a.data(), k, packed.data(), c.data(), n, false,
                                    kernel);
        best = std::min(
            best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                      static_cast<double>(calls));
      }
      std::printf("%-9s m=%lld n=%lld k=%lld: %.1f us, %.1f GFLOP/s\n", to_string(kernel),
                  static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k),
                  best * 1e6, 2.0 * m * n * k / best / 1e9);
    }
  }
  return 0;
}

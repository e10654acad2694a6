// One of several processes autotuning the same problems into the same VCONV_CACHE file at once
// (tests/concurrent_autotune_cache.sh): two threads, each over every problem from its own
// starting point, so that threads and processes race on the same entries. Each result is checked
// against the reference; prints "<entries> entries" for the script to count the file's lines.
#include <atomic>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "common/host_tensor.h"
#include "vconv/vconv.h"

int main() {
  // Each line under both fp32_math values: two cache entries per problem.
  const std::vector<std::string> lines{
      "f32 in=4x10x10 c=8 o=8 k=3x3x3 p=2:0x1x1", "f32 in=12x12 c=16 o=8 k=3x3 p=1",
      "bf16 in=6x8x8 c=8 o=4 k=1x1x1", "f32 n=2 in=20 c=4 o=4 k=5 s=2",
      "f16 in=5x9x9 c=4 o=4 k=3x3x3"};
  const vconv::Fp32Math maths[] = {vconv::Fp32Math::exact, vconv::Fp32Math::tf32};
  const size_t count = lines.size() * 2;
  std::atomic<bool> all_correct = true;
  auto tune = [&](size_t start) {
    for (size_t i = 0; i < count; ++i) {
      const size_t which = (start + i) % count;
      const vconv::Problem p = vconv::parse_problem(lines[which / 2]);
      std::mt19937_64 rng(which);
      vconv::testing::HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()),
          y(p.dtype, p.output_shape()), ref(p.dtype, p.output_shape());
      x.fill_uniform(rng);
      w.fill_uniform(rng);
      y.fill_nan();
      vconv::Options o;
      o.autotune = true;
      o.fp32_math = maths[which % 2];
      vconv::conv(x.view(), w.view(), y.view(), p.params(), o);
      vconv::conv_reference(x.view(), w.view(), ref.view(), p.params());
      if (!vconv::testing::compare(y, ref).within(vconv::testing::tolerance(p.dtype, true))) {
        std::fprintf(stderr, "wrong result for '%s'\n", lines[which / 2].c_str());
        all_correct = false;
      }
    }
  };
  std::thread other(tune, count / 2);
  tune(0);
  other.join();
  std::printf("%zu entries\n", count);
  return all_correct ? 0 : 1;
}

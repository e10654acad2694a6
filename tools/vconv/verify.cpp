// vconv verify: random problems over every semantic; the reference against an independent
// formulation, and every other valid algorithm against the reference.
#include <iostream>
#include <random>

#include "commands.h"
#include "common/cases.h"
#include "common/unfold_oracle.h"
#include "vconv/conv.h"
#include "vconv/error.h"

namespace vconv::cli {
namespace {

struct VerifyArgs {
  int count = 100;
  uint64_t seed = 1;
  std::string device = "cpu";
};

int verify(const VerifyArgs& a) {
  if (a.device != "cpu" && a.device != "cuda")
    throw Error("--device: '" + a.device + "', expected cpu or cuda");
  const Device dev = a.device == "cuda" ? Device::cuda(0) : Device::cpu();
  std::mt19937_64 rng(a.seed);
  int checks = 0, failures = 0;
  for (int i = 0; i < a.count; ++i) {
    const Problem p = testing::random_problem(rng);
    auto report = [&](const std::string& algo, const testing::ErrorStats& e,
                      const testing::CheckOptions& o) {
      ++checks;
      const bool tf32 = o.fp32_math == Fp32Math::tf32;
      if (e.within(testing::tolerance(p.dtype, tf32))) return;
      ++failures;
      std::cout << "FAIL " << algo << (o.strided ? " strided" : "")
                << (o.accumulate ? " accumulate" : "") << (tf32 ? " tf32" : "") << ": "
                << e.to_string() << "\n  replay: vconv plan --problem '" << to_string(p) << "'\n";
    };
    if (dev.type == DeviceType::cpu) {
      // The reference itself, against the unfold formulation.
      testing::HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape());
      testing::HostTensor y(p.dtype, p.output_shape());
      x.fill_uniform(rng);
      w.fill_uniform(rng);
      y.fill_nan();
      conv_reference(x.view(), w.view(), y.view(), p.params());
      report("reference", testing::compare(y, testing::conv_unfold(p, x, w)), {});
    }
    // Half the problems under fp32_math = tf32: TF32 on a GPU, winograd_f4x3 in fp32 on the CPU.
    Options mode;
    if (std::bernoulli_distribution(0.5)(rng)) mode.fp32_math = Fp32Math::tf32;
    for (const Candidate& c : conv_candidates(p, dev, mode)) {
      if (!c.valid || c.name == "reference") continue;
      testing::CheckOptions o;
      o.strided = std::bernoulli_distribution(0.3)(rng);
      o.accumulate = std::bernoulli_distribution(0.2)(rng);
      o.device = dev;
      o.fp32_math = mode.fp32_math;
      report(c.name, testing::check_algorithm(p, c.name, rng, o), o);
    }
  }
  std::cout << "verify: " << a.count << " problems, " << checks << " checks, " << failures
            << " failures (seed " << a.seed << ", " << a.device << ")\n";
  return failures == 0 ? 0 : 1;
}

}  // namespace

void add_verify(CLI::App& app) {
  auto args = std::make_shared<VerifyArgs>();
  auto* cmd = app.add_subcommand("verify", "check every algorithm on random problems");
  cmd->add_option("--count", args->count, "number of random problems");
  cmd->add_option("--seed", args->seed, "random seed");
  cmd->add_option("--device", args->device, "cpu|cuda");
  cmd->callback([args] {
    const int rc = verify(*args);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace vconv::cli

// vconv verify: random problems over every semantic; the reference against an independent
// formulation, and every other valid algorithm against the reference, each output within its own
// error bound (common/cases.h, ErrorModel). A failure prints the line that replays that one check.
#include <iostream>
#include <map>
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
  // One check alone (the replay line of a failure): its problem, algorithm, data and options.
  std::string problem, algorithm, fp32_math = "exact";
  uint64_t data_seed = 0;
  bool strided = false, accumulate = false, residual = false;
};

struct Check {
  std::string algorithm;
  testing::CheckOptions options;
  uint64_t data_seed = 0;
};

// The reference against the unfold formulation (double), on the CPU.
testing::ErrorStats check_reference(const Problem& p, std::mt19937_64& rng) {
  testing::HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape());
  testing::HostTensor y(p.dtype, p.output_shape());
  x.fill_uniform(rng);
  w.fill_uniform(rng);
  y.fill_nan();
  conv_reference(x.view(), w.view(), y.view(), p.params());
  const std::vector<double> exact = testing::conv_unfold(p, x, w);
  const auto model = testing::error_model("reference", p.dtype, Fp32Math::exact);
  return testing::compare_within_bound(
      y, exact, testing::error_bounds(p, model, exact, testing::magnitudes(p, x, w)));
}

// A residual as conv_candidates() sees one: present (its data is never read there).
TensorView residual_marker(const Problem& p) {
  static char present;
  return TensorView(&present, p.dtype, p.output_shape());
}

std::string replay_line(const Problem& p, const Check& c) {
  const testing::CheckOptions& o = c.options;
  std::string line = "vconv verify --device " +
                     std::string(o.device.type == DeviceType::cuda ? "cuda" : "cpu") +
                     " --problem '" + to_string(p) + "' --algorithm " + c.algorithm +
                     " --data-seed " + std::to_string(c.data_seed);
  if (o.strided) line += " --strided";
  if (o.accumulate) line += " --accumulate";
  if (o.residual) line += " --residual";
  if (o.fp32_math == Fp32Math::tf32) line += " --fp32-math tf32";
  return line;
}

// Runs one check; prints FAIL and its replay line when an output exceeds its bound. Keeps the
// largest error/bound ratio seen per algorithm in `worst`.
bool run_check(const Problem& p, const Check& c, std::map<std::string, double>& worst) {
  std::mt19937_64 data(c.data_seed);
  const testing::ErrorStats e = c.algorithm == "reference"
                                    ? check_reference(p, data)
                                    : testing::check_algorithm(p, c.algorithm, data, c.options);
  double& w = worst[c.algorithm];
  w = std::max(w, e.bound_ratio);
  if (e.within_bound()) return true;
  std::cout << "FAIL " << c.algorithm << ": " << e.to_string()
            << "\n  replay: " << replay_line(p, c) << "\n";
  return false;
}

int verify(const VerifyArgs& a) {
  if (a.device != "cpu" && a.device != "cuda")
    throw Error("--device: '" + a.device + "', expected cpu or cuda");
  const Device dev = a.device == "cuda" ? Device::cuda(0) : Device::cpu();
  std::map<std::string, double> worst;
  if (!a.problem.empty()) {
    Check c{a.algorithm, {}, a.data_seed};
    if (c.algorithm.empty()) throw Error("--algorithm: needed with --problem");
    c.options.strided = a.strided;
    c.options.accumulate = a.accumulate;
    c.options.residual = a.residual;
    c.options.device = dev;
    c.options.fp32_math = parse_fp32_math(a.fp32_math, "--fp32-math");
    const bool ok = run_check(parse_problem(a.problem), c, worst);
    std::cout << "verify: " << c.algorithm << " " << (ok ? "passed" : "failed")
              << ", largest error/bound " << worst[c.algorithm] << "\n";
    return ok ? 0 : 1;
  }
  std::mt19937_64 rng(a.seed);
  int checks = 0, failures = 0;
  for (int i = 0; i < a.count; ++i) {
    const Problem p = testing::random_problem(rng);
    std::vector<Check> list;
    if (dev.type == DeviceType::cpu) list.push_back({"reference", {}, rng()});
    // Half the problems under fp32_math = tf32: TF32 on a GPU, winograd_f4x3 in fp32 on the CPU.
    Options mode;
    if (std::bernoulli_distribution(0.5)(rng)) mode.fp32_math = Fp32Math::tf32;
    // A fifth of the problems with a residual (their candidates are the algorithms adding one).
    if (std::bernoulli_distribution(0.2)(rng)) mode.epilogue.residual = residual_marker(p);
    for (const Candidate& c : conv_candidates(p, dev, mode)) {
      if (!c.valid || c.name == "reference") continue;
      Check check{c.name, {}, 0};
      check.options.strided = std::bernoulli_distribution(0.3)(rng);
      check.options.accumulate = std::bernoulli_distribution(0.2)(rng);
      check.options.residual = mode.epilogue.residual.data != nullptr;
      check.options.device = dev;
      check.options.fp32_math = mode.fp32_math;
      check.data_seed = rng();
      list.push_back(check);
    }
    for (const Check& c : list) {
      ++checks;
      failures += !run_check(p, c, worst);
    }
  }
  std::cout << "largest error/bound per algorithm:";
  for (const auto& [name, ratio] : worst) std::cout << " " << name << " " << ratio;
  std::cout << "\nverify: " << a.count << " problems, " << checks << " checks, " << failures
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
  cmd->add_option("--problem", args->problem, "replay one check: the problem (vconv notation)");
  cmd->add_option("--algorithm", args->algorithm, "replay: the algorithm checked");
  cmd->add_option("--data-seed", args->data_seed, "replay: the seed of its random data");
  cmd->add_flag("--strided", args->strided, "replay: padded strides on every tensor");
  cmd->add_flag("--accumulate", args->accumulate, "replay: accumulate into a random output");
  cmd->add_flag("--residual", args->residual, "replay: add a random residual");
  cmd->add_option("--fp32-math", args->fp32_math, "replay: exact|tf32");
  cmd->callback([args] {
    const int rc = verify(*args);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace vconv::cli

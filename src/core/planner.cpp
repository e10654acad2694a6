// The planner: asks every registered algorithm whether it can run a problem, picks the valid one
// with the smallest estimate (or the forced one), and says why.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <sstream>

#include "core/algorithm.h"
#include "core/autotune.h"
#include "core/plan_cache.h"
#include "core/staging.h"
#include "core/validate.h"
#include "vconv/error.h"

namespace vconv {
const Algorithm* find_algorithm(const std::string& name) {
  for (const Algorithm* a : algorithms())
    if (name == a->name()) return a;
  return nullptr;
}

namespace {

// The algorithm of that name; an unknown name is the caller's error.
const Algorithm* algorithm_named(const std::string& name) {
  if (const Algorithm* a = find_algorithm(name)) return a;
  std::string known;
  for (const Algorithm* a : algorithms())
    known += std::string(known.empty() ? "" : ", ") + a->name();
  throw Error("options.algorithm: unknown algorithm '" + name + "', expected one of: " + known);
}

std::string ms_str(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g ms", ms);
  return buf;
}

// Why an algorithm that does not apply `fusion` is not valid for a call that asks for it.
const char* not_applied(Fusion fusion) {
  switch (fusion) {
    case Fusion::epilogue:
      return "does not apply the fused epilogue (options.epilogue: bias or activation)";
    case Fusion::residual:
      return "does not add a residual (options.epilogue.residual)";
    case Fusion::prologue:  // never a reason: conv() stages it (core/staging.h)
      break;
    case Fusion::frame_cache:
      return "does not read a frame cache (options.frame_cache: a streaming causal conv)";
    case Fusion::upsample:
      return "does not read an upsampled input (params.upsample)";
    case Fusion::depth_to_space:
      return "does not store through depth-to-space (params.depth_to_space)";
  }
  return "";
}

}  // namespace

std::vector<Fusion> fusions_of(const Problem& problem, const Options& options) {
  std::vector<Fusion> fusions;
  const Epilogue& e = options.epilogue;
  if (e.bias.data != nullptr || e.activation != Activation::none)
    fusions.push_back(Fusion::epilogue);
  if (e.residual.data != nullptr) fusions.push_back(Fusion::residual);
  if (!options.prologue.empty()) fusions.push_back(Fusion::prologue);
  if (!options.frame_cache.empty()) fusions.push_back(Fusion::frame_cache);
  if (problem.up != std::array<int64_t, 3>{1, 1, 1}) fusions.push_back(Fusion::upsample);
  if (problem.d2s != std::array<int64_t, 3>{1, 1, 1}) fusions.push_back(Fusion::depth_to_space);
  return fusions;
}

std::string why_not_planned(const Algorithm& algorithm, const Problem& problem, Device device,
                            const Options& options) {
  std::string why = algorithm.why_not(problem, device);
  if (why.empty()) why = algorithm.why_not_options(problem, options);
  if (!why.empty()) return why;
  // An algorithm that does not apply the prologue runs on the input a staging pass transformed
  // (core/staging.h); every other fusion it applies itself or not at all.
  for (Fusion fusion : fusions_of(problem, options))
    if (fusion != Fusion::prologue && !algorithm.applies(fusion)) return not_applied(fusion);
  return {};
}

std::vector<std::string> algorithm_names() {
  std::vector<std::string> names;
  for (const Algorithm* a : algorithms()) names.push_back(a->name());
  return names;
}

std::string Plan::to_string() const {
  std::ostringstream os;
  os << "algorithm: " << algorithm << "\nreason: " << reason << "\n";
  if (!staging.empty()) os << "staging: " << staging << "\n";
  os << "candidates:\n";
  for (const auto& c : candidates) {
    os << "  " << c.name << ": ";
    if (c.valid) {
      os << "valid, estimate " << ms_str(c.estimate_ms);
    } else {
      os << "not valid: " << c.why_not;
    }
    os << "\n";
  }
  return os.str();
}

std::vector<Candidate> conv_candidates(const Problem& problem, Device device,
                                       const Options& options) {
  std::vector<Candidate> list;
  for (const Algorithm* a : algorithms()) {
    Candidate c;
    c.name = a->name();
    c.why_not = why_not_planned(*a, problem, device, options);
    c.valid = c.why_not.empty();
    if (c.valid) c.estimate_ms = a->estimate_ms(problem, device, options);
    list.push_back(c);
  }
  return list;
}

Plan plan_conv(const Problem& problem, Device device, const Options& options) {
  Plan plan;
  plan.candidates = conv_candidates(problem, device, options);
  const Candidate* best = nullptr;
  for (const Candidate& c : plan.candidates)
    if (c.valid && (!best || c.estimate_ms < best->estimate_ms)) best = &c;
  if (!options.algorithm.empty()) {
    const Algorithm* forced = algorithm_named(options.algorithm);
    const std::string why = why_not_planned(*forced, problem, device, options);
    if (!why.empty())
      throw Error("options.algorithm: '" + options.algorithm + "' cannot run '" +
                  vconv::to_string(problem) + "' on " + device_name(device) + ": " + why);
    plan.algorithm = forced->name();
    plan.reason = "forced by options.algorithm";
    return plan;
  }
  if (!best) {
    std::string reasons;
    for (const auto& c : plan.candidates) reasons += "\n  " + c.name + ": " + c.why_not;
    throw Error("no algorithm can run '" + vconv::to_string(problem) + "' on " +
                device_name(device) + ":" + reasons);
  }
  plan.algorithm = best->name;
  const double best_ms = best->estimate_ms;
  std::string runner_up;
  double next = std::numeric_limits<double>::infinity();
  for (const auto& c : plan.candidates)
    if (c.valid && c.name != plan.algorithm && c.estimate_ms < next) {
      next = c.estimate_ms;
      runner_up = c.name;
    }
  plan.reason = "smallest estimate among valid algorithms: " + ms_str(best_ms);
  if (!runner_up.empty())
    plan.reason += " against " + ms_str(next) + " for " + runner_up;
  else
    plan.reason += " (the only valid algorithm)";
  return plan;
}

const Algorithm& choose_algorithm(const Problem& problem, Device device, const Options& options,
                                  bool need_f32_output) {
  const Algorithm* best = nullptr;
  double best_ms = std::numeric_limits<double>::infinity();
  for (const Algorithm* a : algorithms()) {
    if (need_f32_output && !a->accepts_f32_output()) continue;
    if (!why_not_planned(*a, problem, device, options).empty()) continue;
    const double ms = a->estimate_ms(problem, device, options);
    if (!best || ms < best_ms) {
      best = a;
      best_ms = ms;
    }
  }
  if (!best)
    throw Error("no algorithm can run the sub-problem '" + vconv::to_string(problem) + "'");
  return *best;
}

namespace {

// conv()'s plan for these arguments: cached, or made now (by the planner, or measured under
// Options::autotune) and cached.
std::shared_ptr<const CachedPlan> plan_for(const ConvArgs& args) {
  const Options& options = args.options;
  PlanKey key{args.problem,
              args.device,
              nullptr,
              options.fp32_math,
              false,
              options.epilogue.bias.data != nullptr,
              options.epilogue.activation,
              options.epilogue.residual.data != nullptr,
              options.prologue.norm,
              options.prologue.activation,
              !options.frame_cache.empty(),
              options.workspace_bytes};
  if (!options.algorithm.empty())
    key.forced = algorithm_named(options.algorithm);
  else
    key.autotune = options.autotune;
  if (auto cached = find_plan(key)) return cached;
  auto made = std::make_shared<CachedPlan>();
  if (key.autotune) {
    made->order.push_back(&autotuned_algorithm(args));
  } else {
    const Plan plan = plan_conv(args.problem, args.device, options);
    std::vector<const Candidate*> valid;
    for (const Candidate& c : plan.candidates)
      if (c.valid && c.name != plan.algorithm) valid.push_back(&c);
    std::stable_sort(valid.begin(), valid.end(), [](const Candidate* a, const Candidate* b) {
      return a->estimate_ms < b->estimate_ms;
    });
    made->order.push_back(algorithm_named(plan.algorithm));
    if (!key.forced)
      for (const Candidate* c : valid) made->order.push_back(algorithm_named(c->name));
  }
  store_plan(key, made);
  return made;
}

// `args` with the input, weight and options of `views`.
ConvArgs with_views(const ConvArgs& args, const StagedViews& views) {
  return ConvArgs{args.problem, views.input,   views.weight,     args.output,
                  args.device,  views.options, args.output_dtype};
}

// Runs `algorithm` on its staging passes over `planned` (core/staging.h) when it takes the
// tensors; else returns why not.
std::string run_staged(const Algorithm& algorithm, const ConvArgs& planned) {
  // Alive until the run returns.
  const StagedViews views = staged_views(algorithm, planned.input, planned.weight, planned.options,
                                         planned.problem.dtype, planned.device);
  const ConvArgs args = with_views(planned, views);
  std::string why = algorithm.why_not_args(args);
  if (why.empty()) algorithm.run(args);
  return why;
}

// conv() of checked arguments: the planned algorithm, on the staging passes it needs (a copy of
// an input or weight whose channel stride it cannot read, the prologue it does not apply); the
// next valid one when it rejects the tensors.
void run_planned(const ConvArgs& planned) {
  const Options& options = planned.options;
  const std::shared_ptr<const CachedPlan> plan = plan_for(planned);
  const Algorithm& chosen = *plan->order.front();
  const std::string why = run_staged(chosen, planned);
  if (why.empty()) return;
  if (!options.algorithm.empty())
    throw Error("options.algorithm: '" + options.algorithm + "' cannot take these tensors: " + why);
  // The autotuned winner rejects these tensors (alignment): measured again among those that take
  // them, as the autotuner does (conv() staged them for every algorithm).
  if (options.autotune) return autotuned_algorithm(planned).run(planned);
  // The plan's choice rejects these tensors: the next valid algorithm by estimate that takes them.
  for (size_t i = 1; i < plan->order.size(); ++i)
    if (run_staged(*plan->order[i], planned).empty()) return;
  throw Error(std::string("no algorithm takes these tensors: ") + chosen.name() + ": " + why);
}

// conv()'s checked arguments as algorithms read them.
ConvArgs checked_conv_args(const CheckedArgs& a, const TensorView& input, const Options& options) {
  for (const View5* v : {&a.input, &a.weight})
    if (overlap(*v, a.output, input.dtype))
      throw Error(std::string("output: overlaps the ") + (v == &a.input ? "input" : "weight") +
                  " in memory; expected a separate output buffer");
  return ConvArgs{a.problem, a.input, a.weight, a.output, input.device, options, input.dtype};
}

}  // namespace

Plan plan_conv(const TensorView& input, const TensorView& weight, const ConvParams& params,
               const Options& options) {
  const Problem problem = make_problem(input.shape, weight.shape, params, input.dtype);
  Plan plan = plan_conv(problem, input.device, options);
  plan.staging = staging_reason(*find_algorithm(plan.algorithm), checked_operand(input, "input"),
                                checked_operand(weight, "weight"), options.prologue);
  return plan;
}

void conv(const TensorView& input, const TensorView& weight, const TensorView& output,
          const ConvParams& params, const Options& options) {
  const CheckedArgs a = check_conv_args(input, weight, output, params, options);
  const ConvArgs args = checked_conv_args(a, input, options);
  if (!options.autotune) return run_planned(args);
  // The autotuner runs every algorithm on the tensors: a strided input or weight, and the
  // prologue, are staged once for all of them.
  const StagedViews views =
      staged_for_every_algorithm(args.input, args.weight, options, args.problem.dtype, args.device);
  run_planned(with_views(args, views));
}

void conv_reference(const TensorView& input, const TensorView& weight, const TensorView& output,
                    const ConvParams& params, bool accumulate, const Epilogue& epilogue) {
  Options o;
  o.algorithm = "reference";
  o.accumulate = accumulate;
  o.epilogue = epilogue;
  conv(input, weight, output, params, o);
}

}  // namespace vconv

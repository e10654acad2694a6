#pragma once
// conv()'s plans, kept per (problem, device, the options that change the choice), so that a
// second call of the same problem does not ask every algorithm again. Thread-safe; bounded
// (kPlanCacheCapacity entries, an arbitrary one dropped when full). plan_conv() is not cached:
// it builds the explanation `vconv plan` prints.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/algorithm.h"

namespace vconv {

constexpr size_t kPlanCacheCapacity = 4096;

// Everything conv()'s choice depends on.
struct PlanKey {
  Problem problem;
  Device device;
  const Algorithm* forced = nullptr;  // Options::algorithm, resolved; nullptr: the planner chooses
  Fp32Math fp32_math = Fp32Math::exact;
  bool autotune = false;
  // The epilogue's form (not its data): an algorithm that does not apply it is not valid.
  bool bias = false;
  Activation activation = Activation::none;
  bool residual = false;
  // The prologue's form: an algorithm that does not apply it is not valid.
  Norm prologue_norm = Norm::none;
  Activation prologue_activation = Activation::none;
  // Whether Options::frame_cache is set: only algorithms that read it are valid then.
  bool frame_cache = false;
  // Options::workspace_bytes: an algorithm whose scratch would exceed it is not valid (depth_tap).
  int64_t workspace_bytes = 0;
};

struct CachedPlan {
  // The algorithms conv() tries in order, the first whose why_not_args() accepts the tensors
  // running: the chosen one, then the other valid ones by increasing estimate. A forced or
  // autotuned plan holds its one algorithm.
  std::vector<const Algorithm*> order;
};

// The cached plan of `key`, or nullptr.
std::shared_ptr<const CachedPlan> find_plan(const PlanKey& key);
void store_plan(const PlanKey& key, std::shared_ptr<const CachedPlan> plan);

// What the cache has done since it was last cleared (tests, benchmarks).
struct PlanCacheStats {
  int64_t hits = 0, misses = 0;
  size_t entries = 0;
};
PlanCacheStats plan_cache_stats();
// Forgets every plan and resets the counts (tests; clear_autotune_cache() calls it).
void clear_plan_cache();

}  // namespace vconv

#include "core/plan_cache.h"

#include <functional>
#include <mutex>
#include <tuple>
#include <unordered_map>

namespace vconv {
namespace {

// Every field of a problem, so that two keys are equal exactly when their problems are.
auto problem_fields(const Problem& p) {
  return std::tie(p.dtype, p.dims, p.n, p.c, p.o, p.groups, p.flip, p.causal_up, p.in, p.k,
                  p.stride, p.pad_lo, p.pad_hi, p.kdil, p.idil, p.out, p.mode, p.up, p.d2s);
}
// A field added to Problem must join problem_fields() and the hash; this fails the build until
// it has (then update the size).
static_assert(sizeof(Problem) == 304, "Problem changed: update problem_fields() and KeyHash");

struct KeyEqual {
  bool operator()(const PlanKey& a, const PlanKey& b) const {
    return problem_fields(a.problem) == problem_fields(b.problem) && a.device == b.device &&
           a.forced == b.forced && a.fp32_math == b.fp32_math && a.autotune == b.autotune &&
           a.bias == b.bias && a.activation == b.activation && a.residual == b.residual &&
           a.prologue_norm == b.prologue_norm && a.prologue_activation == b.prologue_activation &&
           a.frame_cache == b.frame_cache && a.workspace_bytes == b.workspace_bytes;
  }
};

struct KeyHash {
  size_t operator()(const PlanKey& k) const {
    size_t h = 0;
    auto mix = [&h](uint64_t v) {
      h ^= std::hash<uint64_t>()(v) + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2);
    };
    const Problem& p = k.problem;
    mix(static_cast<uint64_t>(p.dtype) | uint64_t(p.dims) << 8 | uint64_t(p.flip) << 16 |
        uint64_t(k.fp32_math) << 24 | uint64_t(k.autotune) << 32 | uint64_t(k.device.type) << 40 |
        uint64_t(k.device.index) << 48 | uint64_t(p.causal_up) << 56);
    for (int64_t v : {p.n, p.c, p.o, p.groups}) mix(static_cast<uint64_t>(v));
    for (const auto* a :
         {&p.in, &p.k, &p.stride, &p.pad_lo, &p.pad_hi, &p.kdil, &p.idil, &p.out, &p.up, &p.d2s})
      for (int64_t v : *a) mix(static_cast<uint64_t>(v));
    for (PadMode m : p.mode) mix(static_cast<uint64_t>(m));
    mix(reinterpret_cast<uintptr_t>(k.forced));
    mix(uint64_t(k.bias) | uint64_t(k.activation) << 8 | uint64_t(k.frame_cache) << 16 |
        uint64_t(k.residual) << 24 | uint64_t(k.prologue_norm) << 32 |
        uint64_t(k.prologue_activation) << 40);
    mix(static_cast<uint64_t>(k.workspace_bytes));
    return h;
  }
};

struct Cache {
  std::mutex mutex;
  std::unordered_map<PlanKey, std::shared_ptr<const CachedPlan>, KeyHash, KeyEqual> plans;
  PlanCacheStats stats;
};

Cache& cache() {
  static Cache c;
  return c;
}

}  // namespace

std::shared_ptr<const CachedPlan> find_plan(const PlanKey& key) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  const auto it = c.plans.find(key);
  if (it == c.plans.end()) {
    ++c.stats.misses;
    return nullptr;
  }
  ++c.stats.hits;
  return it->second;
}

void store_plan(const PlanKey& key, std::shared_ptr<const CachedPlan> plan) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.plans.size() >= kPlanCacheCapacity && !c.plans.count(key)) c.plans.erase(c.plans.begin());
  c.plans[key] = std::move(plan);
}

PlanCacheStats plan_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  PlanCacheStats s = c.stats;
  s.entries = c.plans.size();
  return s;
}

void clear_plan_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.plans.clear();
  c.stats = {};
}

}  // namespace vconv

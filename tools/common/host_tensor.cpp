#include "common/host_tensor.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/float16.h"

namespace vconv::testing {

HostTensor::HostTensor(DType dtype, std::vector<int64_t> shape, std::vector<int64_t> pad)
    : dtype_(dtype), shape_(std::move(shape)), strides_(shape_.size(), 1) {
  int64_t span = 1;
  for (int i = static_cast<int>(shape_.size()) - 1; i >= 0; --i) {
    strides_[i] = span;
    span *= shape_[i] + (pad.empty() ? 0 : pad[i]);
  }
  bytes_.resize(static_cast<size_t>(span * dtype_size(dtype_)));
}

TensorView HostTensor::view() {
  return TensorView(bytes_.data(), dtype_, shape_, strides_);
}

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape_) n *= s;
  return n;
}

int64_t HostTensor::offset(int64_t linear) const {
  int64_t off = 0;
  for (int i = static_cast<int>(shape_.size()) - 1; i >= 0; --i) {
    off += linear % shape_[i] * strides_[i];
    linear /= shape_[i];
  }
  return off;
}

double HostTensor::get(int64_t linear) const {
  const void* p = bytes_.data() + offset(linear) * dtype_size(dtype_);
  switch (dtype_) {
    case DType::f32:
      return *static_cast<const float*>(p);
    case DType::f16:
      return to_float(*static_cast<const Half*>(p));
    case DType::bf16:
      return to_float(*static_cast<const BFloat16*>(p));
  }
  return 0;
}

void HostTensor::set(int64_t linear, double v) {
  void* p = bytes_.data() + offset(linear) * dtype_size(dtype_);
  const float f = static_cast<float>(v);
  switch (dtype_) {
    case DType::f32:
      *static_cast<float*>(p) = f;
      break;
    case DType::f16:
      *static_cast<Half*>(p) = from_float<Half>(f);
      break;
    case DType::bf16:
      *static_cast<BFloat16*>(p) = from_float<BFloat16>(f);
      break;
  }
}

namespace {

// The i-th uniform draw in [0, 1) of the stream `seed`: a counter-based hash, so that billions of
// elements fill in parallel and the result does not depend on the thread count.
double uniform_draw(uint64_t seed, uint64_t i) {
  uint64_t h = seed ^ (i * 0x9E3779B97F4A7C15ull);
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 29;
  h *= 0x94D049BB133111EBull;
  h ^= h >> 32;
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

}  // namespace

void HostTensor::fill_uniform(std::mt19937_64& rng, double lo, double hi) {
  const uint64_t seed = rng();
  const int64_t n = numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    set(i, lo + (hi - lo) * uniform_draw(seed, static_cast<uint64_t>(i)));
}

void HostTensor::fill_normal(std::mt19937_64& rng) {
  const uint64_t seed = rng();
  const int64_t n = numel();
  const double two_pi = 6.283185307179586;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    // Box-Muller from two draws of the stream; 1 - u keeps the logarithm's argument above 0.
    const double u = 1.0 - uniform_draw(seed, 2 * static_cast<uint64_t>(i));
    const double v = uniform_draw(seed, 2 * static_cast<uint64_t>(i) + 1);
    set(i, std::sqrt(-2.0 * std::log(u)) * std::cos(two_pi * v));
  }
}

void HostTensor::fill_nan() {
  const int64_t n = numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) set(i, std::numeric_limits<double>::quiet_NaN());
}

void HostTensor::copy_from(const HostTensor& other) {
  const int64_t n = numel();
  for (int64_t i = 0; i < n; ++i) set(i, other.get(i));
}

ErrorStats compare(const HostTensor& got, const std::vector<double>& ref) {
  ErrorStats s;
  double diff2 = 0, ref2 = 0, max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = got.get(static_cast<int64_t>(i)), r = ref[i];
    if (!std::isfinite(g) && std::isfinite(r)) {
      ++s.nonfinite;
      continue;
    }
    const double d = std::abs(g - r);
    diff2 += d * d;
    ref2 += r * r;
    max_diff = std::max(max_diff, d);
    max_ref = std::max(max_ref, std::abs(r));
  }
  s.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  s.max_rel = max_ref > 0 ? max_diff / max_ref : max_diff;
  return s;
}

ErrorStats compare(const HostTensor& got, const HostTensor& ref) {
  std::vector<double> r(static_cast<size_t>(ref.numel()));
  for (size_t i = 0; i < r.size(); ++i) r[i] = ref.get(static_cast<int64_t>(i));
  return compare(got, r);
}

ErrorStats compare_within_bound(const HostTensor& got, const std::vector<double>& ref,
                                const std::vector<double>& bound) {
  ErrorStats s = compare(got, ref);
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = got.get(static_cast<int64_t>(i)), d = std::abs(g - ref[i]);
    if (!std::isfinite(g)) continue;  // counted by compare()
    // A zero bound (every term zero) admits only an exact result.
    const double ratio = d == 0 ? 0 : d / bound[i];
    if (s.worst < 0 || ratio > s.bound_ratio) {
      s.bound_ratio = ratio;
      s.worst = static_cast<int64_t>(i);
      s.worst_got = g;
      s.worst_ref = ref[i];
      s.worst_bound = bound[i];
    }
  }
  return s;
}

std::string ErrorStats::to_string() const {
  char buf[256];
  int n = std::snprintf(buf, sizeof buf, "rel_l2 %.3g, max_rel %.3g, non-finite %lld", rel_l2,
                        max_rel, static_cast<long long>(nonfinite));
  if (worst >= 0)
    std::snprintf(buf + n, sizeof buf - n,
                  "; error/bound %.3g at output %lld (got %.9g, expected %.9g, bound %.3g)",
                  bound_ratio, static_cast<long long>(worst), worst_got, worst_ref, worst_bound);
  return buf;
}

double tolerance(DType dtype, bool tf32) {
  if (dtype != DType::f32) return 1e-2;
  return tf32 ? 1e-3 : 1e-5;
}

}  // namespace vconv::testing

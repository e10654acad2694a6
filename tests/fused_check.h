#pragma once
// What the fused-conv tests share: the fused call against the unfused sequence, the named errors,
// and the planner's refusal of the algorithms that do not apply a fusion.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "common/host_tensor.h"
#include "vconv/vconv.h"

namespace vconv::testing {

// Every element of `got` within `tol` of `expected`, relative to the largest |expected|.
inline void expect_close(const HostTensor& got, const std::vector<double>& expected,
                         double tol = 1e-5) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(expected.size()));
  double scale = 0;
  for (double v : expected) scale = std::max(scale, std::abs(v));
  for (int64_t i = 0; i < got.numel(); ++i)
    ASSERT_LE(std::abs(got.get(i) - expected[i]), tol * scale)
        << "element " << i << ": got " << got.get(i) << ", expected " << expected[i];
}

inline std::vector<double> values(const HostTensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.get(i);
  return v;
}

// x' = act(x * s * a + b) over x [N, spatial..., C], as torch.nn.GroupNorm, Wan's WanRMS_norm
// (F.normalize over channels * sqrt(C) * gamma + beta) or a scale and shift compute it, in
// double; `scale` and `shift` empty mean 1 and 0. Rounded to f32, as the unfused model stores it.
inline HostTensor normalized(const HostTensor& x, const vconv::Prologue& pro,
                             const std::vector<double>& scale, const std::vector<double>& shift) {
  const int64_t n_count = x.shape().front(), channels = x.shape().back();
  const int64_t pixels = x.numel() / (n_count * channels);
  auto gamma = [&](int64_t c) { return scale.empty() ? 1.0 : scale[c]; };
  auto beta = [&](int64_t c) { return shift.empty() ? 0.0 : shift[c]; };
  auto at = [&](int64_t n, int64_t pixel, int64_t c) {
    return x.get((n * pixels + pixel) * channels + c);
  };
  HostTensor out(DType::f32, x.shape());
  for (int64_t n = 0; n < n_count; ++n) {
    std::vector<double> mean(channels, 0.0), inv_std(channels, 1.0);
    if (pro.norm == Norm::group_norm) {
      const int64_t per_group = channels / pro.groups;
      for (int64_t g = 0; g < pro.groups; ++g) {
        double sum = 0, squares = 0;
        for (int64_t p = 0; p < pixels; ++p)
          for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) sum += at(n, p, c);
        const double m = sum / static_cast<double>(pixels * per_group);
        for (int64_t p = 0; p < pixels; ++p)
          for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c)
            squares += (at(n, p, c) - m) * (at(n, p, c) - m);
        for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
          mean[c] = m;
          inv_std[c] = 1 / std::sqrt(squares / static_cast<double>(pixels * per_group) + pro.eps);
        }
      }
    }
    for (int64_t p = 0; p < pixels; ++p) {
      double norm = 0;
      for (int64_t c = 0; c < channels; ++c) norm += at(n, p, c) * at(n, p, c);
      norm = std::max(std::sqrt(norm), pro.eps);
      for (int64_t c = 0; c < channels; ++c) {
        double v = at(n, p, c);
        if (pro.norm == Norm::group_norm) v = (v - mean[c]) * inv_std[c] * gamma(c) + beta(c);
        if (pro.norm == Norm::rms_norm)
          v = v / norm * std::sqrt(static_cast<double>(channels)) * gamma(c) + beta(c);
        if (pro.norm == Norm::scale_shift) v = v * gamma(c) + beta(c);
        if (pro.activation == Activation::silu) v = v / (1 + std::exp(-v));
        out.set((n * pixels + p) * channels + c, static_cast<float>(v));
      }
    }
  }
  return out;
}

// `call` throws a vconv::Error whose message contains `message`.
inline void expect_error(const std::function<void()>& call, const std::string& message) {
  try {
    call();
    ADD_FAILURE() << "no error; expected one containing '" << message << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

// Under `options`, the planner takes the reference for `problem`, and every algorithm valid for
// the plain conv (no options, the input upsampled, no depth-to-space) says `why_not`; forcing
// cpu_gemm is an error.
inline void expect_only_reference(const Problem& problem, Options options,
                                  const std::string& why_not) {
  ConvParams params = problem.params();
  params.upsample.clear();
  params.depth_to_space.clear();
  params.causal_upsample = false;
  std::vector<int64_t> upsampled = problem.input_shape();
  for (int d = 0; d < problem.dims; ++d) {
    const int64_t up = problem.up[3 - problem.dims + d];
    upsampled[1 + d] =
        d == 0 && problem.causal_up ? (upsampled[1 + d] - 1) * up + 1 : upsampled[1 + d] * up;
  }
  const auto plain = conv_candidates(
      make_problem(upsampled, problem.weight_shape(), params, problem.dtype), Device::cpu());
  const Plan plan = plan_conv(problem, Device::cpu(), options);
  EXPECT_EQ(plan.algorithm, "reference");
  int refused = 0;
  for (size_t i = 0; i < plan.candidates.size(); ++i) {
    const Candidate& c = plan.candidates[i];
    if (c.name == "reference" || !plain[i].valid) continue;
    EXPECT_FALSE(c.valid) << c.name;
    EXPECT_NE(c.why_not.find(why_not), std::string::npos) << c.name << ": " << c.why_not;
    ++refused;
  }
  EXPECT_GT(refused, 0);
  options.algorithm = "cpu_gemm";
  EXPECT_THROW(plan_conv(problem, Device::cpu(), options), Error);
}

}  // namespace vconv::testing

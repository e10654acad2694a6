#pragma once
// cpu_pointwise: a 1x1(x1) conv with stride 1 and no padding is one GEMM per group over the input
// as it lies, [N * D * H * W, C] x [C, O]: no im2col. fp32 inputs whose positions lie at one
// stride are read in place (the GEMM's leading dimension is the position stride); other dtypes
// are widened to fp32 a chunk of rows at a time.
#include "core/algorithm.h"

namespace vconv::cpu {

class PointwiseAlgorithm final : public Algorithm {
 public:
  const char* name() const override { return "cpu_pointwise"; }
  std::string why_not(const Problem& problem, Device device) const override;
  double estimate_ms(const Problem& problem, Device device, const Options& options) const override;
  void run(const ConvArgs& args) const override;
  bool applies(Fusion f) const override { return f == Fusion::epilogue || f == Fusion::residual; }
  bool accepts_f32_output() const override { return true; }
};

}  // namespace vconv::cpu

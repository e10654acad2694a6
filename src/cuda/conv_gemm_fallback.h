#pragma once
// cuda_gemm_fallback: every conv_general problem on an NVIDIA GPU. Explicit im2col of a bounded
// chunk of rows into a workspace, then cuBLAS (fp32 accumulation) per group, then one store that
// rounds to the output dtype. Input dilation is split by stride phase as on the CPU (no inserted
// zero is multiplied); a 1x1(x1) stride-1 conv is one GEMM over the input as it lies.
#include "core/algorithm.h"

namespace vconv::cuda {

class GemmFallbackAlgorithm final : public Algorithm {
 public:
  const char* name() const override { return "cuda_gemm_fallback"; }
  std::string why_not(const Problem& problem, Device device) const override;
  double estimate_ms(const Problem& problem, Device device, const Options& options) const override;
  void run(const ConvArgs& args) const override;
  // The epilogue, residual and depth-to-space in OutputRow (epilogue.cuh), upsampling through
  // source_index() (core/index_map.h) in im2col.
  bool applies(Fusion f) const override {
    return f == Fusion::epilogue || f == Fusion::residual || f == Fusion::upsample ||
           f == Fusion::depth_to_space;
  }
};

}  // namespace vconv::cuda

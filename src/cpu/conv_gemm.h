#pragma once
// cpu_gemm: im2col in bounded chunks, then a GEMM (packed_gemm.h), one per group. Takes every
// conv_general problem. Input dilation in zero-padded dimensions is split by stride phase: the
// output positions of one phase read real samples through a fixed subset of taps, so each phase
// is a dense GEMM over those taps alone and no inserted zero is multiplied.
#include "core/algorithm.h"

namespace vconv::cpu {

class GemmAlgorithm final : public Algorithm {
 public:
  const char* name() const override { return "cpu_gemm"; }
  std::string why_not(const Problem& problem, Device device) const override;
  double estimate_ms(const Problem& problem, Device device, const Options& options) const override;
  void run(const ConvArgs& args) const override;
  bool applies(Fusion f) const override { return f == Fusion::epilogue || f == Fusion::residual; }
  bool accepts_f32_output() const override { return true; }
};

// The multiply-accumulates cpu_gemm performs: the problem's, less the taps that the stride-phase
// split skips.
int64_t gemm_macs(const Problem& p);

}  // namespace vconv::cpu

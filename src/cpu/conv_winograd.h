#pragma once
// winograd_f2x3 and winograd_f4x3: convs with a 3x3 spatial kernel, spatial stride 1, by
// Winograd F(MxM, 3x3) in fp32. The depth axis goes through the index map: for 3D problems the
// depth taps are summed inside the GEMM (the transformed patches of the KD frames a tile reads are
// stacked along K = KD * C), so each output tile is transformed and written once, with any depth
// kernel, stride, dilation and padding mode. Tiles are processed in chunks small enough that a
// thread's transformed tiles stay in cache: gather and transform the input patches, alpha^2 GEMMs
// (packed_gemm.h) against the transformed weight, packed once, then the output transform writes
// (or accumulates into) the output directly.
#include "core/algorithm.h"

namespace vconv::cpu {

template <int M>
class WinogradAlgorithm final : public Algorithm {
 public:
  const char* name() const override { return M == 2 ? "winograd_f2x3" : "winograd_f4x3"; }
  std::string why_not(const Problem& problem, Device device) const override;
  std::string why_not_options(const Problem& problem, const Options& options) const override;
  double estimate_ms(const Problem& problem, Device device, const Options& options) const override;
  void run(const ConvArgs& args) const override;
  bool applies(Fusion f) const override { return f == Fusion::epilogue || f == Fusion::residual; }
  bool accepts_f32_output() const override { return true; }
};

extern template class WinogradAlgorithm<2>;
extern template class WinogradAlgorithm<4>;

}  // namespace vconv::cpu

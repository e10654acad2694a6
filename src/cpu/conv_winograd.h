#pragma once
// winograd_f2x3 and winograd_f4x3: 2D 3x3 stride-1 convs by Winograd F(MxM, 3x3) in fp32, over
// every frame of a problem whose depth kernel is 1 (the depth axis goes through the index map, so
// a 1x3x3 3D conv with any depth stride or padding is a batch of frames). Tiles are processed in
// chunks small enough that a thread's transformed tiles stay in cache: gather and transform the
// input tiles, alpha^2 GEMMs (OpenBLAS) against the transformed weight, then the output transform
// writes (or accumulates into) the output directly.
#include "core/algorithm.h"

namespace vconv::cpu {

template <int M>
class WinogradAlgorithm final : public Algorithm {
 public:
  const char* name() const override { return M == 2 ? "winograd_f2x3" : "winograd_f4x3"; }
  std::string why_not(const Problem& problem, Device device) const override;
  double estimate_ms(const Problem& problem, Device device) const override;
  void run(const ConvArgs& args) const override;
  bool accepts_f32_output() const override { return true; }
};

extern template class WinogradAlgorithm<2>;
extern template class WinogradAlgorithm<4>;

}  // namespace vconv::cpu

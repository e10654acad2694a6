#pragma once
// The reference convolution: every semantic, simple loops, double accumulation. It is the oracle
// every other path is tested against; it stays simple and speed lives elsewhere.
#include "core/algorithm.h"

namespace vconv::cpu {

class ReferenceAlgorithm final : public Algorithm {
 public:
  const char* name() const override { return "reference"; }
  std::string why_not(const Problem& problem, Device device) const override;
  double estimate_ms(const Problem& problem, Device device, const Options& options) const override;
  void run(const ConvArgs& args) const override;
  bool applies(Fusion) const override { return true; }  // every semantic
  bool reads_any_channel_stride() const override { return true; }
};

}  // namespace vconv::cpu

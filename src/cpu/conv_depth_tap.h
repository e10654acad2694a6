#pragma once
// depth_tap: a 3D conv as a sum over depth taps of 2D convs,
//   out[n, od] = sum_kd conv2d(frame(n, od, kd), w[:, kd]),
// where frame() is the index map over frames (depth stride, dilation, padding in every mode).
// Each tap runs the 2D algorithm the planner picks for that 2D problem over a batch of frames
// that lie at one stride in memory (a frame-shifted view; never a copy), accumulating (beta = 1)
// into an fp32 accumulator: the output itself when it is fp32, else one fp32 buffer rounded once
// at the end, so that bf16/f16 partial sums are never rounded between taps. A tap that lands in
// zero padding is skipped for that frame. Under flip tap kd reads weight slice KD-1-kd.
// A streaming call (Options::frame_cache) reads the frames before its input from the cache
// (streamed_source_frame), each tap's run of frames a strided view of the cache or of the input,
// and writes the next cache through the CPU's one writer (cpu/frame_cache.h).
#include "core/algorithm.h"

namespace vconv::cpu {

class DepthTapAlgorithm final : public Algorithm {
 public:
  const char* name() const override { return "depth_tap"; }
  std::string why_not(const Problem& problem, Device device) const override;
  // The fp32 accumulator of a bf16/f16 output is scratch, bounded by Options::workspace_bytes.
  std::string why_not_options(const Problem& problem, const Options& options) const override;
  double estimate_ms(const Problem& problem, Device device, const Options& options) const override;
  void run(const ConvArgs& args) const override;
  bool applies(Fusion f) const override {
    return f == Fusion::epilogue || f == Fusion::residual || f == Fusion::frame_cache;
  }
  bool accepts_f32_output() const override { return true; }
};

}  // namespace vconv::cpu

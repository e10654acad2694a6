#pragma once
// cuda_implicit_gemm: forward convolution on tensor cores (mma.sync, sm_80 and newer) for bf16 and
// f16 inputs, and fp32 inputs in TF32 (Options::fp32_math = tf32) or at fp32 accuracy through
// three TF32 products per multiply (exact), with fp32 accumulation. 3D is a loop
// over depth taps inside the kernel: for each output tile, for each depth tap kd (skipped when it
// reads zero padding for the whole tile), for each (kh, kw, channel block), accumulate in
// registers. Input frames come from the index map (batch, depth stride, dilation, padding in every
// mode), the same function as the CPU depth_tap. One rounding to the output type at the end;
// `accumulate` adds to the output. 128 x 128 output tiles; cuda_implicit_gemm_narrow is the same
// kernel with 128 x 16 tiles, for convs with few output channels per group;
// cuda_implicit_gemm_sm90 the same kernel with 128 x 128 tiles multiplied by wgmma (Hopper, sm_90a
// builds on compute capability 9.0 devices; bf16 and f16); cuda_implicit_gemm_sm90_ws the
// warp-specialized persistent kernel on the same hardware (implicit_gemm/kernel_ws.cuh: a
// producer warpgroup, two wgmma consumer warpgroups, one CTA per SM walking the tiles; bf16, f16,
// and fp32 as TF32, rounded to nearest by the copy engine and, in the A rows it gathers, by the
// producer);
// cuda_implicit_gemm_sm90_im2col that kernel with A brought by the tensor copy engine in im2col
// mode (one producer thread issues every copy) instead of gathered, where the input is read
// through zero padding alone and the engine can address it (implicit_gemm/im2col_box.h).
//
// cuda_depth_tap_2d: the seed's algorithm literally, as a baseline: KD launches of the same
// kernel, one depth tap each, accumulating into an fp32 buffer that is rounded once at the end.
#include "core/algorithm.h"

namespace vconv::cuda {

// The output tile of the implicit-GEMM kernel (implicit_gemm/tile_config.h).
enum class TileShape { wide, narrow, sm90, sm90_ws, sm90_im2col };

class ImplicitGemmAlgorithm final : public Algorithm {
 public:
  explicit ImplicitGemmAlgorithm(TileShape shape) : shape_(shape) {}
  const char* name() const override {
    switch (shape_) {
      case TileShape::narrow:
        return "cuda_implicit_gemm_narrow";
      case TileShape::sm90:
        return "cuda_implicit_gemm_sm90";
      case TileShape::sm90_ws:
        return "cuda_implicit_gemm_sm90_ws";
      case TileShape::sm90_im2col:
        return "cuda_implicit_gemm_sm90_im2col";
      default:
        return "cuda_implicit_gemm";
    }
  }
  std::string why_not(const Problem& problem, Device device) const override;
  std::string why_not_options(const Problem& problem, const Options& options) const override;
  double estimate_ms(const Problem& problem, Device device, const Options& options) const override;
  void run(const ConvArgs& args) const override;
  std::string why_not_args(const ConvArgs& args) const override;
  // The epilogue, residual and depth-to-space in OutputRow (epilogue.cuh); upsampling and the
  // frame cache through input_index_at() and time_source() (mainloop.cuh), the next cache by
  // write_next_frame_cache(); the im2col copies read the input alone, through zero padding.
  bool applies(Fusion f) const override {
    if (f == Fusion::prologue) return false;
    return shape_ != TileShape::sm90_im2col || (f != Fusion::frame_cache && f != Fusion::upsample);
  }

 private:
  bool wgmma() const {
    return shape_ == TileShape::sm90 || shape_ == TileShape::sm90_ws ||
           shape_ == TileShape::sm90_im2col;
  }
  TileShape shape_;
};

class DepthTap2dAlgorithm final : public Algorithm {
 public:
  const char* name() const override { return "cuda_depth_tap_2d"; }
  std::string why_not(const Problem& problem, Device device) const override;
  double estimate_ms(const Problem& problem, Device device, const Options& options) const override;
  void run(const ConvArgs& args) const override;
  std::string why_not_args(const ConvArgs& args) const override;
  // The epilogue, residual and depth-to-space in OutputRow (epilogue.cuh); upsampling and the
  // frame cache through input_index_at() and time_source() (mainloop.cuh), the next cache by
  // write_next_frame_cache().
  bool applies(Fusion f) const override { return f != Fusion::prologue; }
};

}  // namespace vconv::cuda

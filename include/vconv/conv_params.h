#pragma once
// Convolution parameters with MLX's conv_general semantics, plus video extensions (padding modes).
#include <cstdint>
#include <vector>

#include "vconv/types.h"

namespace vconv {

// How the low/high padding of a spatial dimension is filled. Causal time padding is
// padding_lo = (KT - 1) * dilation, padding_hi = 0, in any mode.
enum class PadMode { zeros, replicate, reflect };

const char* pad_mode_name(PadMode m);

// Every per-dimension field takes either d values, one value (used for every dimension) or none
// (the default: 1 for strides, dilations and the upsample and depth-to-space factors, 0 for
// padding, zeros for pad_mode).
struct ConvParams {
  std::vector<int64_t> stride;
  std::vector<int64_t> padding_lo;  // negative padding crops
  std::vector<int64_t> padding_hi;
  std::vector<int64_t> kernel_dilation;
  std::vector<int64_t> input_dilation;  // >1 inserts zeros between input samples (transposed conv)
  std::vector<PadMode> pad_mode;
  // Nearest-neighbour upsampling of the input by an integer factor per dimension (1: none): the
  // conv reads sample i of the upsampled signal from input sample i / factor, so the upsampled
  // tensor is never written (F.interpolate(mode="nearest") by 2, then a conv: Wan's Resample in
  // space, CogVideoX's and HunyuanVideo's upsamplers). It comes before input dilation and padding,
  // which see the upsampled length; the sizes of `input` stay those of the tensor.
  std::vector<int64_t> upsample;
  // The causal video VAEs' upsampling of the first dimension (time), where frame 0 is an image:
  // frame 0 once, every later frame upsample[0] times, so T frames become 1 + upsample[0] * (T -
  // 1) (HunyuanVideo's UpsampleCausal3D; CogVideoX's Upsample3D on an odd frame count). Needs
  // upsample[0] > 1.
  bool causal_upsample = false;
  // Depth-to-space on the output by an integer factor r per dimension (1: none): the conv's O
  // channels are stored as O / (r0 * r1 * r2) channels on a grid r times larger. Conv output
  // channel o at position (t, h, w), with o = (k * C' + c) * r1 * r2 + i * r2 + j, C' = O / (r0
  // * r1 * r2), is stored at (t * r0 + k, h * r1 + i, w * r2 + j), channel c (dimensions counted
  // as in a 3D problem; a 2D or 1D problem has only the trailing ones). So the first of three
  // dimensions (time) takes its r0 blocks of C' * r1 * r2 channels whole, as Wan's upsample3d
  // time conv (C -> 2C, the halves become frames 2t and 2t + 1), and the others are PyTorch's
  // pixel_shuffle (channel c * r * r + i * r + j). Any other order is a permutation of the
  // weight's output channels (and the bias's), applied once by the caller.
  std::vector<int64_t> depth_to_space;
  int64_t groups = 1;
  bool flip = false;  // true convolution instead of cross-correlation (the kernel is mirrored)
};

// The output shape [N, O1..Od, O] of conv_general; under depth_to_space, each Oi times its factor
// and O divided by their product. Sizes are computed in int64; an overflow, a non-positive output
// size, a tensor of `dtype` larger than kMaxTensorBytes or any other inconsistency throws
// vconv::Error (before anything is allocated for the output).
std::vector<int64_t> conv_output_shape(const std::vector<int64_t>& input_shape,
                                       const std::vector<int64_t>& weight_shape,
                                       const ConvParams& params, DType dtype = DType::f32);

// The largest tensor (input, weight or output) a problem may have: 2^47 bytes = 128 TiB, the user
// address space of a process on x86-64 and arm64 Linux (4-level page tables). Anything larger is
// a mistake in the parameters (a padding or input dilation off by orders of magnitude), named as
// such instead of reaching an allocator.
constexpr int64_t kMaxTensorBytes = int64_t{1} << 47;

// A transposed convolution (PyTorch/MLX conv_transpose semantics) expressed as a conv_general
// problem the way MLX builds it: input_dilation = stride, flip, kernel_dilation = dilation,
// padding_lo = dilation * (K - 1) - padding, padding_hi = padding_lo + output_padding.
// `kernel` holds the d kernel sizes; the other vectors take d values, one value or none.
ConvParams conv_transpose_params(const std::vector<int64_t>& kernel,
                                 const std::vector<int64_t>& stride,
                                 const std::vector<int64_t>& padding,
                                 const std::vector<int64_t>& dilation,
                                 const std::vector<int64_t>& output_padding, int64_t groups = 1);

}  // namespace vconv

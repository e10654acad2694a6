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
// (the default: 1 for strides and dilations, 0 for padding, zeros for pad_mode).
struct ConvParams {
  std::vector<int64_t> stride;
  std::vector<int64_t> padding_lo;  // negative padding crops
  std::vector<int64_t> padding_hi;
  std::vector<int64_t> kernel_dilation;
  std::vector<int64_t> input_dilation;  // >1 inserts zeros between input samples (transposed conv)
  std::vector<PadMode> pad_mode;
  int64_t groups = 1;
  bool flip = false;  // true convolution instead of cross-correlation (the kernel is mirrored)
};

// The output shape [N, O1..Od, O] of conv_general. Sizes are computed in int64; an overflow, a
// non-positive output size, a tensor of `dtype` larger than kMaxTensorBytes or any other
// inconsistency throws vconv::Error (before anything is allocated for the output).
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

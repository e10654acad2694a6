#pragma once
// cuDNN as a side-by-side comparison in `vconv bench --device cuda` (CMake option VCONV_CUDNN):
// the same problem on the same device memory through cudnnConvolutionForward (NDHWC tensors,
// NHWC filter, the fastest algorithm found by cudnnFindConvolutionForwardAlgorithm, i.e. what
// torch.backends.cudnn.benchmark = True picks).
#include <string>

#include "vconv/conv.h"

namespace vconv::cli {

// Empty when the comparison can run `p`, else why not.
std::string cudnn_why_not(const Problem& p);

// Times `p` on the given device views; the output lands in `y` when `exact_output` (padding
// symmetric), else in scratch: the legacy API has no asymmetric padding, so causal padding runs
// symmetric (max(lo, hi) on both sides) and computes the extra output frames too.
double cudnn_conv_ms(const Problem& p, const TensorView& x, const TensorView& w,
                     const TensorView& y, Fp32Math math, bool* exact_output);

}  // namespace vconv::cli

#pragma once
// Checks the tensors handed to conv() against the problem they describe, and converts them to the
// 5D views algorithms take.
#include "core/algorithm.h"

namespace vconv {

struct CheckedArgs {
  Problem problem;
  View5 input, weight, output;
};

// Also checks the options' tensors: the epilogue's bias ([O], contiguous, the input's dtype and
// device, apart from the output) and the frame cache (conv.h's FrameCache).
CheckedArgs check_conv_args(const TensorView& input, const TensorView& weight,
                            const TensorView& output, const ConvParams& params,
                            const Options& options);

// The conv's input or weight (`name`) as a 5D view, its strides checked (any channel stride).
View5 checked_operand(const TensorView& t, const char* name);

// The frames a checked frame cache brings before the input: `previous`'s, 0 on the first chunk.
int64_t cached_frames(const FrameCache& cache);

// Whether two views can touch the same bytes (an empty view touches none).
bool overlap(const View5& a, const View5& b, DType dtype);

// A rank-5 tensor that check_conv_args() accepted (a frame cache) as a 5D view.
View5 checked_view5(const TensorView& t);

}  // namespace vconv

#pragma once
// An independent formulation of conv_general, for checking the reference itself: the padded,
// input-dilated tensor is built explicitly one axis at a time (dilate, then pad or crop by the
// pad mode), the kernel is mirrored explicitly under flip, and the convolution is an unfold
// (im2col) followed by a matrix product per group. It shares no indexing code with the library.
#include <vector>

#include "common/host_tensor.h"
#include "vconv/problem.h"

namespace vconv::testing {

// Returns the output in row-major [N, O1..Od, O] order, in double.
std::vector<double> conv_unfold(const Problem& p, const HostTensor& x, const HostTensor& w);

}  // namespace vconv::testing

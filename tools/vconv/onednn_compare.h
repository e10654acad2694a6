#pragma once
// oneDNN 3.x as a side-by-side comparison in `vconv bench` (CMake options VCONV_ONEDNN and
// VCONV_ONEDNN_ROOT): the same problem on the same data through oneDNN's convolution_forward, for
// the problems it takes here (f32, groups 1, zero padding, no input dilation, no flip).
#include <string>

#include "common/host_tensor.h"
#include "vconv/problem.h"

namespace vconv::cli {

// Empty when oneDNN can run `p` here, else why not.
std::string onednn_why_not(const Problem& p);

// Runs `p` once to warm up, then times it; the output lands in `y`. Returns the median ms.
double onednn_conv_ms(const Problem& p, testing::HostTensor& x, testing::HostTensor& w,
                      testing::HostTensor& y);

}  // namespace vconv::cli

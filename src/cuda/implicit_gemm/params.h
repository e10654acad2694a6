#pragma once
// The one parameter struct of the implicit-GEMM conv kernel.
#include "cuda/kernel_params.h"

namespace vconv::cuda::implicit_gemm {

struct Params {
  TensorRef in, w, out;
  Geometry geo;
  int64_t m;             // output positions: n * od * oh * ow
  int kd_begin, kd_end;  // the depth taps summed by this launch (all, or one for depth_tap_2d)
  bool accumulate;       // out += conv instead of out = conv
};

}  // namespace vconv::cuda::implicit_gemm

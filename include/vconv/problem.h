#pragma once
// A whole convolution problem: shapes, dtype and parameters, with its one-line text notation.
//
// Notation (one line, tokens separated by spaces, any order after the dtype; defaults omitted):
//   bf16 n=1 in=41x60x104 c=256 o=256 k=3x3x3 s=1 p=2:0x1x1 pm=replicate kd=1 id=1 g=1 flip
//     in  spatial input sizes, d = 1..3 values          k   kernel sizes (d values)
//     c   input channels     o  output channels         n   batch
//     s   stride             kd kernel dilation         id  input dilation   (d values or one)
//     p   padding: per dimension "lo:hi" or "p" (both sides), d values or one
//     pm  pad mode: zeros|replicate|reflect, d values joined by '/' or one
//     g   groups             flip  mirror the kernel (true convolution)
//     up  nearest upsampling factors of the input     d2s  depth-to-space factors of the output
//                                                          (d values or one, as ConvParams)
//     causal_up  frame 0 upsampled once in the first dimension (ConvParams::causal_upsample)
// A malformed line throws vconv::Error with a caret under the offending token.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vconv/conv_params.h"
#include "vconv/types.h"

namespace vconv {

struct Problem {
  DType dtype = DType::f32;
  int dims = 3;  // spatial dimensions, 1..3
  int64_t n = 1, c = 1, o = 1, groups = 1;
  bool flip = false;
  bool causal_up = false;  // ConvParams::causal_upsample, on the first of the problem's dimensions
  // Spatial fields always have 3 entries; for dims < 3 the leading 3 - dims entries describe a
  // unit dimension (size 1, kernel 1, stride 1, no padding), so algorithms see every problem as 3D.
  std::array<int64_t, 3> in{1, 1, 1}, k{1, 1, 1}, stride{1, 1, 1}, pad_lo{0, 0, 0}, pad_hi{0, 0, 0},
      kdil{1, 1, 1}, idil{1, 1, 1}, out{1, 1, 1};
  // ConvParams::upsample and ::depth_to_space. `in` holds the input tensor's sizes and `out` the
  // conv's output grid; the conv reads in * up samples and the stored output is out * d2s.
  std::array<int64_t, 3> up{1, 1, 1}, d2s{1, 1, 1};
  std::array<PadMode, 3> mode{PadMode::zeros, PadMode::zeros, PadMode::zeros};

  int64_t cg() const { return c / groups; }  // input channels per group
  int64_t og() const { return o / groups; }  // output channels per group
  int64_t macs() const;                      // multiply-accumulates, taps in padding included
  double flops() const { return 2.0 * static_cast<double>(macs()); }
  std::vector<int64_t> input_shape() const;
  std::vector<int64_t> weight_shape() const;
  std::vector<int64_t> output_shape() const;  // the stored tensor's (after depth-to-space)
  // The output channels as stored: O / (d2s[0] * d2s[1] * d2s[2]).
  int64_t stored_channels() const { return o / (d2s[0] * d2s[1] * d2s[2]); }
  ConvParams params() const;
};

// Builds and validates a problem from MLX-style shapes and parameters (throws vconv::Error).
Problem make_problem(const std::vector<int64_t>& input_shape,
                     const std::vector<int64_t>& weight_shape, const ConvParams& params,
                     DType dtype = DType::f32);

std::string to_string(const Problem& p);
Problem parse_problem(const std::string& line);

}  // namespace vconv

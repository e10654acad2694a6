#pragma once
// Where the warp-specialized kernel's A can come by the tensor copy engine in im2col mode
// (cuda_implicit_gemm_sm90_im2col): the bounding box its loads walk, or why the problem is not
// one the engine addresses that way. Host code without CUDA, so that the CPU tests hold it to the
// problems (tests/test_affine_taps.cpp); tensor_map.cu encodes the map from it.
#include <cstdint>
#include <string>

#include "cuda/implicit_gemm/row_info.h"
#include "cuda/kernel_params.h"

namespace vconv::cuda::implicit_gemm {

// Per spatial dimension, innermost first (W, H, D: geometry slots 2, 1, 0), as the driver takes
// them: tap 0's box [lower, in - 1 + upper] = [-pad_lo, (out - 1) * stride - pad_lo] holds exactly
// the output positions' sources, stepped by the stride, so that a load walks a tile's output
// positions in row order ([N, OD, OH, OW]), wrapping from one output row, frame or batch element
// to the next as the tile's rows do; a tap's offset (tap * dilation) shifts the box.
struct Im2colBox {
  int lower[3], upper[3];
  uint32_t stride[3];
};

// Empty, with `box` set, where the copy engine can bring A; else what stops it: a map other than
// zero padding (pad modes, input dilation, upsampling, a frame cache: affine_taps false), a
// k-block of `row_bytes` straddling two groups' channels, padding or stride outside a 5D im2col
// map's ranges ([-16, 15] for the corners, 8 for the traversal stride), tap offsets above 31 (a
// rank-5 map's range).
inline std::string why_not_im2col(const Geometry& geo, bool affine_taps, int64_t groups,
                                  int64_t element_bytes, int row_bytes, Im2colBox& box) {
  if (!affine_taps) return "the input is read through a map other than zero padding";
  if (groups > 1 && geo.cg * element_bytes % row_bytes != 0)
    return "a k-block would straddle two groups' channels";
  for (int i = 0; i < 3; ++i) {
    const DimMap& d = geo.dim[2 - i];
    const int64_t lo = -d.pad_lo, hi = (geo.out[2 - i] - 1) * d.stride + 1 - d.in - d.pad_lo;
    if (lo < -16 || lo > 15 || hi < -16 || hi > 15)
      return "padding outside the copy engine's im2col corner range [-16, 15]";
    if (d.stride > 8) return "a stride above the copy engine's traversal stride 8";
    // A rank-5 map takes tap offsets in [0, 31] (PTX ISA, im2col mode).
    if ((geo.k[2 - i] - 1) * d.kdil > 31) return "a tap offset (tap x dilation) above 31";
    box.lower[i] = static_cast<int>(lo);
    box.upper[i] = static_cast<int>(hi);
    box.stride[i] = static_cast<uint32_t>(d.stride);
  }
  return {};
}

}  // namespace vconv::cuda::implicit_gemm

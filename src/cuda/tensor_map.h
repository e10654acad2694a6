#pragma once
// Tensor maps (the descriptors the tensor copy engine reads) of the tensors the wgmma kernels
// bring by TMA, encoded through the driver and kept in a small cache: a map depends only on the
// address, shape, strides, dtype and box it encodes, so a cache keyed by exactly those is never
// stale, and a model's weights (fixed addresses) are encoded once instead of on every call.
#include <cuda.h>  // CUtensorMap

#include <string>

#include "core/algorithm.h"
#include "cuda/implicit_gemm/im2col_box.h"

namespace vconv::cuda {

// The weight [O, KD, KH, KW, C/groups] as a 5D map {C/groups, KW, KH, KD, O} (innermost first)
// whose boxes are one k-block of `row_bytes` bytes of channels by `rows` output channels, in the
// 128-byte swizzle; channels past C/groups and rows past O read as zeros.
CUtensorMap weight_tensor_map(const View5& weight, DType dtype, int row_bytes, int rows);

// Empty where the input's strides and address let the copy engine read it as an im2col map
// (16-byte aligned, unit channel stride, every other stride a multiple of 16 bytes below 2^40),
// else what stops it.
std::string why_not_im2col_input(const View5& input, DType dtype);

// The input [N, D, H, W, C] as the im2col map of `box` (implicit_gemm/im2col_box.h): a load at a
// tile's first output position (in tap (0, 0, 0)'s input coordinates) with a tap's offsets walks
// the tile's `pixels` output positions, `row_bytes` of channels per position, in the 128-byte
// swizzle; positions in zero padding and past the last batch element read as zeros. Encoded per
// call (the input's address changes), not cached; DeviceError where the driver refuses it.
CUtensorMap input_im2col_map(const View5& input, DType dtype, const implicit_gemm::Im2colBox& box,
                             int row_bytes, int pixels);

// Encodings done so far (cache misses), for tests.
int64_t weight_tensor_map_encodings();

}  // namespace vconv::cuda

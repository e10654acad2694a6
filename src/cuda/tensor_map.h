#pragma once
// Tensor maps (the descriptors the tensor copy engine reads) of the tensors the wgmma kernels
// bring by TMA, encoded through the driver and kept in a small cache: a map depends only on the
// address, shape, strides, dtype and box it encodes, so a cache keyed by exactly those is never
// stale, and a model's weights (fixed addresses) are encoded once instead of on every call.
#include <cuda.h>  // CUtensorMap

#include <string>

#include "core/algorithm.h"
#include "cuda/kernel_params.h"

namespace vconv::cuda {

// The weight [O, KD, KH, KW, C/groups] as a 5D map {C/groups, KW, KH, KD, O} (innermost first)
// whose boxes are one k-block of `row_bytes` bytes of channels by `rows` output channels, in the
// 128-byte swizzle; channels past C/groups and rows past O read as zeros.
CUtensorMap weight_tensor_map(const View5& weight, DType dtype, int row_bytes, int rows);

// The input [N, D, H, W, C] as an im2col map for the warp-specialized kernel's producer: a load
// at a tile's first output position (in tap (0, 0, 0)'s input coordinates) with a tap's offsets
// walks the tile's `pixels` output positions in row order ([N, OD, OH, OW]: the bounding box of
// each dimension holds exactly its output positions, stepped by the conv's stride, so the walk
// wraps from one output row, frame or batch element to the next as the tile's rows do), each
// shifted by the tap, `row_bytes` of channels per position, in the 128-byte swizzle; positions in
// zero padding and past the last batch element read as zeros. False (`map` untouched) where the
// problem is not one the copy engine addresses that way, with `why` saying what: a map other
// than zero padding (`affine_taps` false: pad modes, input dilation, upsampling, a frame
// cache), k-blocks straddling groups, strides or bases the engine cannot take, padding or stride
// out of its ranges. Encoded per call (the input's address changes), not cached.
bool input_im2col_map(const View5& input, DType dtype, const Geometry& geo, bool affine_taps,
                      int64_t groups, int row_bytes, int pixels, CUtensorMap& map,
                      std::string* why = nullptr);

// Encodings done so far (cache misses), for tests.
int64_t weight_tensor_map_encodings();

}  // namespace vconv::cuda

#pragma once
// Tensor maps (the descriptors the tensor copy engine reads) of the tensors the wgmma kernels
// bring by TMA, encoded through the driver and kept in a small cache: a map depends only on the
// address, shape, strides, dtype and box it encodes, so a cache keyed by exactly those is never
// stale, and a model's weights (fixed addresses) are encoded once instead of on every call.
#include <cuda.h>  // CUtensorMap

#include "core/algorithm.h"

namespace vconv::cuda {

// The weight [O, KD, KH, KW, C/groups] as a 5D map {C/groups, KW, KH, KD, O} (innermost first)
// whose boxes are one k-block of `row_bytes` bytes of channels by `rows` output channels, in the
// 128-byte swizzle; channels past C/groups and rows past O read as zeros.
CUtensorMap weight_tensor_map(const View5& weight, DType dtype, int row_bytes, int rows);

// Encodings done so far (cache misses), for tests.
int64_t weight_tensor_map_encodings();

}  // namespace vconv::cuda

#pragma once
// A non-owning view of a strided tensor. Shapes and strides are in elements, 64-bit.
// Convolution tensors are channels-last (input [N, S1..Sd, C], weight [O, K1..Kd, C/groups],
// output [N, O1..Od, O]). The input and the weight take any strides (conv.h says what a channel
// stride other than 1 costs); the other tensors any strides whose innermost (channel) one is 1.
#include <cstdint>
#include <vector>

#include "vconv/types.h"

namespace vconv {

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::f32;
  Device device = Device::cpu();
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // empty means contiguous row-major

  TensorView() = default;
  TensorView(void* data, DType dtype, std::vector<int64_t> shape, std::vector<int64_t> strides = {},
             Device device = Device::cpu());

  int rank() const { return static_cast<int>(shape.size()); }
  int64_t numel() const;
  // Row-major contiguous strides for `shape`.
  static std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);
};

}  // namespace vconv

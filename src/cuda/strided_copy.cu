// conv()'s staging copy on a CUDA device (core/staging.h): a strided 5D tensor gathered into a
// contiguous buffer, one thread per element, the element moved as an opaque word of its size.
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/device_runtime.h"
#include "cuda/check.h"
#include "cuda/device_scope.h"
#include "cuda/kernel_params.h"  // grid_for
#include "vconv/error.h"

namespace vconv {
namespace {

struct Strided5 {
  int64_t shape[5], strides[5];
};

// dst[i] = src at the i-th index of the shape in row-major order.
template <typename Word>
__global__ void gather_contiguous(const Word* src, Word* dst, Strided5 v, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t rest = i, offset = 0;
    for (int d = 4; d >= 0; --d) {
      offset += (rest % v.shape[d]) * v.strides[d];
      rest /= v.shape[d];
    }
    dst[i] = src[offset];
  }
}

template <typename Word>
void launch(const void* src, void* dst, const Strided5& v, int64_t count, cudaStream_t stream) {
  gather_contiguous<Word><<<cuda::grid_for(count, 256), 256, 0, stream>>>(
      static_cast<const Word*>(src), static_cast<Word*>(dst), v, count);
  VCONV_CUDA_CHECK_LAUNCH();
}

}  // namespace

std::shared_ptr<void> cuda_contiguous_copy(Device device, void* stream, const void* data,
                                           const std::array<int64_t, 5>& shape,
                                           const std::array<int64_t, 5>& strides,
                                           size_t element_bytes) {
  Strided5 v{};
  int64_t count = 1;
  for (int d = 0; d < 5; ++d) {
    v.shape[d] = shape[d];
    v.strides[d] = strides[d];
    count *= shape[d];
  }
  cuda::DeviceScope scope(device.index);
  const auto s = static_cast<cudaStream_t>(stream);
  // Freed on the stream after the conv that reads it.
  std::shared_ptr<void> buffer =
      cuda::shared_stream_buffer(device.index, s, static_cast<size_t>(count) * element_bytes);
  if (count == 0) return buffer;
  if (element_bytes == 4)
    launch<uint32_t>(data, buffer.get(), v, count, s);
  else if (element_bytes == 2)
    launch<uint16_t>(data, buffer.get(), v, count, s);
  else
    throw Error("staging copy: elements of " + std::to_string(element_bytes) +
                " bytes; expected 2 or 4 (f32, f16, bf16)");
  return buffer;
}

}  // namespace vconv

#include "core/index_map.h"
#include "core/validate.h"
#include "cuda/check.h"
#include "cuda/frame_cache.h"

namespace vconv::cuda {
namespace {

// next[n, j, h, w, :] = frame next_cache_frame(j) of (previous ++ input), or zeros; one thread
// per (n, j, h, w) pixel copies its C elements (of type T: a copy moves bytes, so T is the
// dtype's size).
template <typename T>
__global__ void next_frames_kernel(TensorRef next, int64_t n_count, int64_t frames, int64_t h_count,
                                   int64_t w_count, int64_t channels, TensorRef input,
                                   TensorRef previous, int64_t cached, DimMap time) {
  const int64_t pixels = n_count * frames * h_count * w_count;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < pixels;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t w = i % w_count, h = i / w_count % h_count;
    const int64_t j = i / (w_count * h_count) % frames, n = i / (w_count * h_count * frames);
    const FrameSource s = next_cache_frame(time, cached, frames, j);
    T* dst = static_cast<T*>(next.data) + next.offset(n, j, h, w, 0);
    const T* src = s.index < 0 ? nullptr
                   : s.from_cache
                       ? static_cast<const T*>(previous.data) + previous.offset(n, s.index, h, w, 0)
                       : static_cast<const T*>(input.data) + input.offset(n, s.index, h, w, 0);
    for (int64_t c = 0; c < channels; ++c)
      dst[c * next.stride[4]] = src ? src[c * (s.from_cache ? previous : input).stride[4]] : T{};
  }
}

}  // namespace

CachedFrames cached_frames_of(const ConvArgs& a) {
  const int64_t count = cached_frames(a.options.frame_cache);
  if (count == 0) return {TensorRef{nullptr, {}}, 0};
  return {tensor_ref(checked_view5(a.options.frame_cache.previous)), count};
}

std::string why_not_frame_cache(const ConvArgs& a) {
  if (cached_frames(a.options.frame_cache) == 0) return {};
  const View5 previous = checked_view5(a.options.frame_cache.previous);
  const int64_t chunk = 16 / dtype_size(a.problem.dtype);
  if (reinterpret_cast<uintptr_t>(previous.data) % 16 != 0)
    return "options.frame_cache.previous data is not 16-byte aligned";
  for (int i = 0; i < 2; ++i)
    if (previous.strides[i] % chunk != 0)
      return "options.frame_cache.previous stride " + std::to_string(previous.strides[i]) +
             " is not a multiple of " + std::to_string(chunk) + " elements";
  for (int i = 2; i < 5; ++i)
    if (previous.shape[i] > 1 && previous.strides[i] != a.input.strides[i])
      return "options.frame_cache.previous stride " + std::to_string(i) + " (" +
             std::to_string(previous.strides[i]) + ") differs from the input's (" +
             std::to_string(a.input.strides[i]) + "); the kernels address both alike";
  return {};
}

void write_next_frame_cache(const ConvArgs& a, cudaStream_t stream) {
  if (a.options.frame_cache.next.data == nullptr) return;
  const Problem& p = a.problem;
  const View5 next = checked_view5(a.options.frame_cache.next);
  const CachedFrames cached = cached_frames_of(a);
  const DimMap time = dim_map(p, 0);
  const int64_t pixels = next.shape[0] * next.shape[1] * next.shape[2] * next.shape[3];
  if (pixels == 0) return;
  with_element_type(p.dtype, [&](auto element) {
    using T = decltype(element);
    next_frames_kernel<T><<<grid_for(pixels, 256), 256, 0, stream>>>(
        tensor_ref(next), next.shape[0], next.shape[1], next.shape[2], next.shape[3], next.shape[4],
        tensor_ref(a.input), cached.frames, cached.count, time);
  });
  VCONV_CUDA_CHECK_LAUNCH();
}

}  // namespace vconv::cuda

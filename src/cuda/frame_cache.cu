#include <cstdint>
#include <initializer_list>

#include "core/index_map.h"
#include "core/validate.h"
#include "cuda/check.h"
#include "cuda/frame_cache.h"

namespace vconv::cuda {
namespace {

// next[n, j, h, w, :] = frame next_cache_frame(j) of (previous ++ input), or zeros; one warp
// per (n, j, h, w) pixel, its lanes over the C elements (of type T: a copy moves bytes, so T is
// the dtype's size, or 16-byte units of several), so that a warp moves adjacent channels at once.
template <typename T>
__global__ void next_frames_kernel(TensorRef next, int64_t n_count, int64_t frames, int64_t h_count,
                                   int64_t w_count, int64_t channels, TensorRef input,
                                   TensorRef previous, int64_t cached, DimMap time) {
  const int64_t pixels = n_count * frames * h_count * w_count;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  const int lane = threadIdx.x % 32;
  for (int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; i < pixels; i += warps) {
    const int64_t w = i % w_count, h = i / w_count % h_count;
    const int64_t j = i / (w_count * h_count) % frames, n = i / (w_count * h_count * frames);
    const FrameSource s = next_cache_frame(time, cached, frames, j);
    T* dst = static_cast<T*>(next.data) + next.offset(n, j, h, w, 0);
    const T* src = s.index < 0 ? nullptr
                   : s.from_cache
                       ? static_cast<const T*>(previous.data) + previous.offset(n, s.index, h, w, 0)
                       : static_cast<const T*>(input.data) + input.offset(n, s.index, h, w, 0);
    const int64_t src_stride = (s.from_cache ? previous : input).stride[4];
    for (int64_t c = lane; c < channels; c += 32)
      dst[c * next.stride[4]] = src ? src[c * src_stride] : T{};
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

namespace {

// The refs as arrays of 16-byte units (channels / k of them, k elements each) where
// channels_in_16_byte_units() allows it: a copy moves bytes, so it may move them 16 at a time.
// False (refs untouched) otherwise.
bool as_16_byte_units(int64_t& channels, int64_t element_bytes,
                      std::initializer_list<TensorRef*> refs) {
  for (const TensorRef* r : refs)
    if (!channels_in_16_byte_units(channels, element_bytes, {r})) return false;
  const int64_t k = 16 / element_bytes;
  for (TensorRef* r : refs)
    for (int i = 0; i < 4; ++i) r->stride[i] /= k;
  channels /= k;
  return true;
}

// Whether frame slabs (H x W x C elements) of r are dense: unit channel stride, rows and pixels
// packed, so that a frame is one run of h * w * c elements.
bool dense_frames(const TensorRef& r, int64_t h, int64_t w, int64_t c) {
  return r.stride[4] == 1 && (w == 1 || r.stride[3] == c) && (h == 1 || r.stride[2] == w * c);
}

// The next cache frame by frame where every frame slab is dense and the slabs are few (a call
// each): frame j of batch element b copied (cudaMemcpyAsync) from the input or the previous
// cache, or cleared where it reads zero padding. The copy engine moves them at memcpy's speed,
// where a kernel spends index arithmetic per pixel (152 us for 25 MB on the H200, 0.34 TB/s).
// False (nothing copied) otherwise.
bool copy_frames(const TensorRef& next, const View5& next_view, const TensorRef& input,
                 const CachedFrames& cached, const DimMap& time, int64_t element_bytes,
                 cudaStream_t stream) {
  constexpr int64_t kMaxSlabs = 16;  // beyond, the calls' own cost approaches the kernel's
  const int64_t n = next_view.shape[0], frames = next_view.shape[1];
  const int64_t h = next_view.shape[2], w = next_view.shape[3], c = next_view.shape[4];
  if (n * frames > kMaxSlabs) return false;
  for (const TensorRef* r : {&next, &input, &cached.frames})
    if (r->data != nullptr && !dense_frames(*r, h, w, c)) return false;
  const auto bytes = static_cast<size_t>(h * w * c * element_bytes);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t j = 0; j < frames; ++j) {
      void* dst = static_cast<char*>(next.data) + next.offset(b, j, 0, 0, 0) * element_bytes;
      const FrameSource s = next_cache_frame(time, cached.count, frames, j);
      if (s.index < 0) {
        VCONV_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream));
        continue;
      }
      const TensorRef& src = s.from_cache ? cached.frames : input;
      const void* from =
          static_cast<const char*>(src.data) + src.offset(b, s.index, 0, 0, 0) * element_bytes;
      VCONV_CUDA_CHECK(cudaMemcpyAsync(dst, from, bytes, cudaMemcpyDeviceToDevice, stream));
    }
  return true;
}

}  // namespace

void write_next_frame_cache(const ConvArgs& a, cudaStream_t stream) {
  if (a.options.frame_cache.next.data == nullptr) return;
  const Problem& p = a.problem;
  const View5 next_view = checked_view5(a.options.frame_cache.next);
  CachedFrames cached = cached_frames_of(a);
  const DimMap time = dim_map(p, 0);
  const int64_t pixels =
      next_view.shape[0] * next_view.shape[1] * next_view.shape[2] * next_view.shape[3];
  if (pixels == 0) return;
  TensorRef next = tensor_ref(next_view), input = tensor_ref(a.input);
  if (copy_frames(next, next_view, input, cached, time, dtype_size(p.dtype), stream)) return;
  int64_t channels = next_view.shape[4];
  const auto launch = [&](auto unit) {
    next_frames_kernel<decltype(unit)><<<grid_for(pixels * 32, 256), 256, 0, stream>>>(
        next, next_view.shape[0], next_view.shape[1], next_view.shape[2], next_view.shape[3],
        channels, input, cached.frames, cached.count, time);
  };
  if (as_16_byte_units(channels, dtype_size(p.dtype), {&next, &input, &cached.frames}))
    launch(uint4{});
  else
    with_element_type(p.dtype, launch);
  VCONV_CUDA_CHECK_LAUNCH();
}

}  // namespace vconv::cuda

#include "cpu/frame_cache.h"

#include <cstring>

#include "core/validate.h"

namespace vconv::cpu {

void write_next_frames(const ConvArgs& a, const View5& input, const DimMap& time, int64_t cached) {
  const FrameCache& cache = a.options.frame_cache;
  const View5 next = checked_view5(cache.next);
  const View5 previous = cached > 0 ? checked_view5(cache.previous) : View5{};
  // Frames are copied as bytes (a zero frame as zero bytes, 0.0 in every dtype): the cache holds
  // exactly what the conv read, in its dtype.
  const int64_t size = dtype_size(a.problem.dtype);
  const size_t channel_bytes = static_cast<size_t>(next.shape[4] * size);
  for (int64_t n = 0; n < next.shape[0]; ++n)
    for (int64_t j = 0; j < next.shape[1]; ++j) {
      const FrameSource s = next_cache_frame(time, cached, next.shape[1], j);
      for (int64_t h = 0; h < next.shape[2]; ++h)
        for (int64_t w = 0; w < next.shape[3]; ++w) {
          char* dst = static_cast<char*>(next.data) + next.offset(n, j, h, w, 0) * size;
          if (s.index < 0) {
            std::memset(dst, 0, channel_bytes);
            continue;
          }
          const char* src = s.from_cache ? static_cast<const char*>(previous.data) +
                                               previous.offset(n, s.index, h, w, 0) * size
                                         : static_cast<const char*>(input.data) +
                                               input.offset(n, s.index, h, w, 0) * size;
          // The reference reads an input of any channel stride (the caches' is 1, validated).
          const int64_t step = s.from_cache ? previous.strides[4] : input.strides[4];
          if (step == 1) {
            std::memcpy(dst, src, channel_bytes);
            continue;
          }
          for (int64_t c = 0; c < next.shape[4]; ++c)
            std::memcpy(dst + c * size, src + c * step * size, static_cast<size_t>(size));
        }
    }
}

}  // namespace vconv::cpu

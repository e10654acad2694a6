#pragma once
// Runs of channels between the tensors' dtypes and the fp32 the CPU algorithms compute in.
#include <cstdint>
#include <type_traits>

#include "core/float16.h"
#include "vconv/types.h"

namespace vconv::cpu {

// dst[0..n) = src[0], src[step], ... as float; Step is an int64_t, or a compile-time 1 for
// contiguous runs (load_f32), whose loops then vectorize.
template <typename Step>
inline void load_f32_run(DType t, const void* src, int64_t n, Step step, float* dst) {
  switch (t) {
    case DType::f32:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<const float*>(src)[i * step];
      return;
    case DType::f16:
      for (int64_t i = 0; i < n; ++i) dst[i] = to_float(static_cast<const Half*>(src)[i * step]);
      return;
    case DType::bf16:
      for (int64_t i = 0; i < n; ++i)
        dst[i] = to_float(static_cast<const BFloat16*>(src)[i * step]);
      return;
  }
}

// dst[0..n) = src[0..n) as float.
inline void load_f32(DType t, const void* src, int64_t n, float* dst) {
  load_f32_run(t, src, n, std::integral_constant<int64_t, 1>{}, dst);
}

// dst[0..n) = src[0], src[step], ... as float.
inline void load_f32_strided(DType t, const void* src, int64_t n, int64_t step, float* dst) {
  load_f32_run(t, src, n, step, dst);
}

// dst[0..n) = src (or dst + src when accumulate), rounded once to dtype t.
inline void store_f32(DType t, const float* src, int64_t n, void* dst, bool accumulate) {
  switch (t) {
    case DType::f32: {
      float* d = static_cast<float*>(dst);
      if (accumulate) {
        for (int64_t i = 0; i < n; ++i) d[i] += src[i];
      } else {
        for (int64_t i = 0; i < n; ++i) d[i] = src[i];
      }
      return;
    }
    case DType::f16: {
      Half* d = static_cast<Half*>(dst);
      for (int64_t i = 0; i < n; ++i)
        d[i] = from_float<Half>(accumulate ? to_float(d[i]) + src[i] : src[i]);
      return;
    }
    case DType::bf16: {
      BFloat16* d = static_cast<BFloat16*>(dst);
      for (int64_t i = 0; i < n; ++i)
        d[i] = from_float<BFloat16>(accumulate ? to_float(d[i]) + src[i] : src[i]);
      return;
    }
  }
}

inline char* byte_ptr(void* base, int64_t elements, DType t) {
  return static_cast<char*>(base) + elements * dtype_size(t);
}
inline const char* byte_ptr(const void* base, int64_t elements, DType t) {
  return static_cast<const char*>(base) + elements * dtype_size(t);
}

}  // namespace vconv::cpu

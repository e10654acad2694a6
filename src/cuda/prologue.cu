// conv()'s prologue staging on a CUDA device (core/staging.h): x' = act(x * s[n, pixel] *
// a[n, c] + b[n, c]) of Options::prologue (vconv/conv.h) over a strided input, written
// contiguous channels-last in the input's dtype, for an algorithm that does not apply the
// prologue while it reads. Three launches: GroupNorm's sums per (n, group) over slices of its
// elements (in double, so that one pass gives the variance), a[n, c] and b[n, c] from them (or
// from the scale and shift alone), then one warp per pixel (RMS norm: the pixel's norm over
// channels first, a warp reduction) writing x'.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "core/device_runtime.h"
#include "core/float16.h"
#include "cuda/check.h"
#include "cuda/device_scope.h"
#include "cuda/kernel_params.h"

namespace vconv {
namespace {

using cuda::TensorRef;

struct Shape5 {
  int64_t n, d, h, w, c;
  __host__ __device__ int64_t pixels() const { return n * d * h * w; }
};

// Options::prologue as kernels take it (conv.h's Prologue holds host-side vectors).
struct PrologueArgs {
  Norm norm;
  int64_t groups;
  double eps;
  const void* scale;  // [C] or nullptr
  const void* shift;
  Activation activation;
};

constexpr int kThreads = 256;

// sums[(n * groups + g) * slices + slice] = {sum, sum of squares} of the slice-th part of group
// g's elements of sample n (its channels at every pixel), one block per (n, g, slice).
template <typename T>
__global__ void group_sums_kernel(TensorRef x, Shape5 s, int64_t groups, int64_t slices,
                                  double2* sums) {
  __shared__ double partial[2][kThreads];
  const int64_t per_group = s.c / groups, count = s.d * s.h * s.w * per_group;
  const int64_t blocks = s.n * groups * slices;
  for (int64_t block = blockIdx.x; block < blocks; block += gridDim.x) {
    const int64_t slice = block % slices, g = block / slices % groups,
                  n = block / (slices * groups);
    const int64_t begin = count * slice / slices, end = count * (slice + 1) / slices;
    double sum = 0, squares = 0;
    for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
      const int64_t pixel = i / per_group, c = g * per_group + i % per_group;
      const int64_t w = pixel % s.w, h = pixel / s.w % s.h, d = pixel / (s.w * s.h);
      const double v = to_float(static_cast<const T*>(x.data)[x.offset(n, d, h, w, c)]);
      sum += v;
      squares += v * v;
    }
    partial[0][threadIdx.x] = sum;
    partial[1][threadIdx.x] = squares;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) {
        partial[0][threadIdx.x] += partial[0][threadIdx.x + half];
        partial[1][threadIdx.x] += partial[1][threadIdx.x + half];
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) sums[block] = make_double2(partial[0][0], partial[1][0]);
    __syncthreads();  // partial is read before the next block's sums overwrite it
  }
}

// ab[n * C + c] = {a[n, c], b[n, c]} (conv.h's Prologue), in double, stored as float.
template <typename T>
__global__ void channel_affine_kernel(const double2* sums, Shape5 s, PrologueArgs pro,
                                      int64_t slices, float2* ab) {
  const T* scale = static_cast<const T*>(pro.scale);
  const T* shift = static_cast<const T*>(pro.shift);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < s.n * s.c;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t n = i / s.c, c = i % s.c;
    double a = 1, b = 0;
    if (pro.norm != Norm::none) {
      a = scale ? to_float(scale[c]) : 1.0;
      b = shift ? to_float(shift[c]) : 0.0;
    }
    if (pro.norm == Norm::rms_norm) a *= sqrt(static_cast<double>(s.c));
    if (pro.norm == Norm::group_norm) {
      const int64_t per_group = s.c / pro.groups, g = c / per_group;
      double sum = 0, squares = 0;
      for (int64_t slice = 0; slice < slices; ++slice) {
        const double2 v = sums[(n * pro.groups + g) * slices + slice];
        sum += v.x;
        squares += v.y;
      }
      const double count = static_cast<double>(s.d * s.h * s.w * per_group);
      const double mean = sum / count;
      const double variance = fmax(squares / count - mean * mean, 0.0);
      a /= sqrt(variance + pro.eps);
      b -= mean * a;
    }
    ab[i] = make_float2(static_cast<float>(a), static_cast<float>(b));
  }
}

// out[pixel][c] = act(x * s[pixel] * a + b) rounded to T, one warp per pixel (lanes over its
// channels); s = 1 / max(||x[pixel]||, eps) under rms_norm, else 1.
template <typename T>
__global__ void prologue_kernel(TensorRef x, Shape5 s, PrologueArgs pro, const float2* ab, T* out) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  const T* in = static_cast<const T*>(x.data);
  for (int64_t pixel = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32; pixel < s.pixels();
       pixel += warps) {
    const int64_t w = pixel % s.w, h = pixel / s.w % s.h, d = pixel / (s.w * s.h) % s.d,
                  n = pixel / (s.w * s.h * s.d);
    const T* src = in + x.offset(n, d, h, w, 0);
    float scale = 1;
    if (pro.norm == Norm::rms_norm) {
      float squares = 0;
      for (int64_t c = lane; c < s.c; c += 32) {
        const float v = to_float(src[c * x.stride[4]]);
        squares += v * v;
      }
      for (int offset = 16; offset > 0; offset /= 2)
        squares += __shfl_xor_sync(0xffffffffu, squares, offset);
      scale = 1.0f / fmaxf(sqrtf(squares), static_cast<float>(pro.eps));
    }
    for (int64_t c = lane; c < s.c; c += 32) {
      const float2 coef = ab[n * s.c + c];
      float v = to_float(src[c * x.stride[4]]) * scale * coef.x + coef.y;
      if (pro.activation == Activation::silu) v = v / (1.0f + expf(-v));
      out[pixel * s.c + c] = from_float<T>(v);
    }
  }
}

}  // namespace

std::shared_ptr<void> cuda_prologue(Device device, void* stream, const Prologue& prologue,
                                    const void* data, const std::array<int64_t, 5>& shape,
                                    const std::array<int64_t, 5>& strides, DType dtype) {
  const Shape5 s{shape[0], shape[1], shape[2], shape[3], shape[4]};
  const PrologueArgs pro{prologue.norm,       prologue.groups,     prologue.eps,
                         prologue.scale.data, prologue.shift.data, prologue.activation};
  TensorRef x{const_cast<void*>(data), {}};
  for (int i = 0; i < 5; ++i) x.stride[i] = strides[i];
  cuda::DeviceScope scope(device.index);
  const auto st = static_cast<cudaStream_t>(stream);
  const size_t bytes = static_cast<size_t>(s.pixels() * s.c * dtype_size(dtype));
  std::shared_ptr<void> buffer = cuda::shared_stream_buffer(device.index, st, bytes);
  if (bytes == 0) return buffer;
  // GroupNorm's elements per (n, group) in slices of at least 8192, at most 256 slices: a few
  // blocks per SM at video sizes, one for tiny inputs.
  const bool group_norm = prologue.norm == Norm::group_norm;
  const int64_t per_group_elements =
      group_norm ? s.d * s.h * s.w * (s.c / prologue.groups) : int64_t{0};
  const int64_t slices = std::clamp<int64_t>(per_group_elements / 8192, 1, 256);
  cuda::StreamBuffer sums(group_norm ? size_t(s.n * prologue.groups * slices) * sizeof(double2) : 0,
                          st);
  cuda::StreamBuffer ab(size_t(s.n * s.c) * sizeof(float2), st);
  cuda::with_element_type(dtype, [&](auto element) {
    using T = decltype(element);
    if (group_norm) {
      group_sums_kernel<T><<<cuda::grid_for(s.n * prologue.groups * slices * kThreads, kThreads),
                             kThreads, 0, st>>>(x, s, prologue.groups, slices, sums.get<double2>());
      VCONV_CUDA_CHECK_LAUNCH();
    }
    channel_affine_kernel<T><<<cuda::grid_for(s.n * s.c, kThreads), kThreads, 0, st>>>(
        sums.get<double2>(), s, pro, slices, ab.get<float2>());
    VCONV_CUDA_CHECK_LAUNCH();
    prologue_kernel<T><<<cuda::grid_for(s.pixels() * 32, kThreads), kThreads, 0, st>>>(
        x, s, pro, ab.get<float2>(), static_cast<T*>(buffer.get()));
    VCONV_CUDA_CHECK_LAUNCH();
  });
  return buffer;
}

}  // namespace vconv

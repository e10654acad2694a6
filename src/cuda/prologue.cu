// conv()'s prologue staging on a CUDA device (core/staging.h): x' = act(x * s[n, pixel] *
// a[n, c] + b[n, c]) of Options::prologue (vconv/conv.h) over a strided input, written
// contiguous channels-last in the input's dtype, for an algorithm that does not apply the
// prologue while it reads. Three launches: GroupNorm's sums per (n, channel) over chunks of
// pixels (fp64, so that one pass gives the variance), a[n, c] and b[n, c] from them (or
// from the scale and shift alone), then one warp per pixel (RMS norm: the pixel's norm over
// channels first, a warp reduction) writing x'. GroupNorm's sums are per channel first (a warp
// reads 32 adjacent channels of a pixel; a group's 4-16 channels alone would use a fraction of
// every sector it reads), then per group.
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
  __host__ __device__ int64_t pixels() const { return d * h * w; }  // per sample
};

// The input as the kernels read it: element (n, pixel, c), pixel = (d * H + h) * W + w. `dense`:
// the pixels of a sample lie at one stride (the usual channels-last tensor, also a
// channels-first one), where an offset takes no division.
struct Input {
  TensorRef x;
  bool dense;
  __device__ int64_t offset(const Shape5& s, int64_t n, int64_t pixel, int64_t c) const {
    if (dense) return n * x.stride[0] + pixel * x.stride[3] + c * x.stride[4];
    const int64_t w = pixel % s.w, h = pixel / s.w % s.h, d = pixel / (s.w * s.h);
    return x.offset(n, d, h, w, c);
  }
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
constexpr int kWarps = kThreads / 32;
// Pixels a thread sums in fp32 before it adds the partial sums to its fp64 ones: fp32's rounding
// over 64 terms stays far below the prologue's tolerance, fp64 carries the rest (a variance is
// E[x^2] - E[x]^2, which cancels where the mean is large).
constexpr int kPixelsPerFloatSum = 64;

// sums[((n * chunks) + chunk) * C + c] = {sum, sum of squares} of channel c of sample n over the
// chunk-th range of its pixels. A block takes (n, chunk, 32 channels): lane = channel, warp =
// every kWarps-th pixel of the range (a warp reads 32 adjacent channels of a pixel at once).
template <typename T>
__global__ void channel_sums_kernel(Input in, Shape5 s, int64_t chunks, double2* sums) {
  __shared__ double2 partial[kWarps][32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t tiles = (s.c + 31) / 32, blocks = s.n * chunks * tiles;
  const T* x = static_cast<const T*>(in.x.data);
  for (int64_t block = blockIdx.x; block < blocks; block += gridDim.x) {
    const int64_t tile = block % tiles, chunk = block / tiles % chunks,
                  n = block / (tiles * chunks);
    const int64_t c = tile * 32 + lane;
    const int64_t begin = s.pixels() * chunk / chunks, end = s.pixels() * (chunk + 1) / chunks;
    double sum = 0, squares = 0;
    if (c < s.c) {
      for (int64_t run = begin + warp; run < end; run += int64_t{kWarps} * kPixelsPerFloatSum) {
        float run_sum = 0, run_squares = 0;
        const int64_t run_end =
            end < run + kWarps * kPixelsPerFloatSum ? end : run + kWarps * kPixelsPerFloatSum;
        for (int64_t pixel = run; pixel < run_end; pixel += kWarps) {
          const float v = to_float(x[in.offset(s, n, pixel, c)]);
          run_sum += v;
          run_squares += v * v;
        }
        sum += run_sum;
        squares += run_squares;
      }
    }
    partial[warp][lane] = make_double2(sum, squares);
    __syncthreads();
    if (warp == 0 && c < s.c) {
      for (int i = 1; i < kWarps; ++i) {
        sum += partial[i][lane].x;
        squares += partial[i][lane].y;
      }
      sums[(n * chunks + chunk) * s.c + c] = make_double2(sum, squares);
    }
    __syncthreads();  // partial is read before the next block's sums overwrite it
  }
}

// ab[n * C + c] = {a[n, c], b[n, c]} (conv.h's Prologue), in double, stored as float; one warp
// per (n, c), its lanes summing the chunks' sums of every channel of c's group.
template <typename T>
__global__ void channel_affine_kernel(const double2* sums, Shape5 s, PrologueArgs pro,
                                      int64_t chunks, float2* ab) {
  const T* scale = static_cast<const T*>(pro.scale);
  const T* shift = static_cast<const T*>(pro.shift);
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  for (int64_t i = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32; i < s.n * s.c;
       i += warps) {
    const int64_t n = i / s.c, c = i % s.c;
    double a = 1, b = 0;
    if (pro.norm != Norm::none) {
      a = scale ? to_float(scale[c]) : 1.0;
      b = shift ? to_float(shift[c]) : 0.0;
    }
    if (pro.norm == Norm::rms_norm) a *= sqrt(static_cast<double>(s.c));
    if (pro.norm == Norm::group_norm) {
      const int64_t per_group = s.c / pro.groups, first = c / per_group * per_group;
      double sum = 0, squares = 0;
      for (int64_t j = lane; j < per_group * chunks; j += 32) {
        const double2 v = sums[(n * chunks + j / per_group) * s.c + first + j % per_group];
        sum += v.x;
        squares += v.y;
      }
      for (int offset = 16; offset > 0; offset /= 2) {
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
        squares += __shfl_xor_sync(0xffffffffu, squares, offset);
      }
      const double count = static_cast<double>(s.pixels() * per_group);
      const double mean = sum / count;
      const double variance = fmax(squares / count - mean * mean, 0.0);
      a /= sqrt(variance + pro.eps);
      b -= mean * a;
    }
    if (lane == 0) ab[i] = make_float2(static_cast<float>(a), static_cast<float>(b));
  }
}

// kVec elements of one pixel's adjacent channels, loaded and stored as one access.
template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) Elements {
  T v[kVec];
};

// out[n, pixel, c] = act(x * s[n, pixel] * a + b) rounded to T, one warp per pixel, its lanes
// over groups of kVec adjacent channels (kVec > 1: 16-byte accesses, where the input's channels
// are contiguous and aligned to them; kVec = 1 reads any channel stride); s = 1 /
// max(||x[n, pixel]||, eps) under rms_norm, else 1.
template <typename T, int kVec>
__global__ void prologue_kernel(Input in, Shape5 s, PrologueArgs pro, const float2* ab, T* out) {
  using Vec = Elements<T, kVec>;
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32), vecs = s.c / kVec;
  const T* x = static_cast<const T*>(in.x.data);
  const auto load = [&](const T* src, int64_t v) {
    if constexpr (kVec > 1) return reinterpret_cast<const Vec*>(src)[v];
    Vec e;
    e.v[0] = src[v * in.x.stride[4]];
    return e;
  };
  for (int64_t row = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32; row < s.n * s.pixels();
       row += warps) {
    const int64_t n = row / s.pixels(), pixel = row % s.pixels();
    const T* src = x + in.offset(s, n, pixel, 0);
    float scale = 1;
    if (pro.norm == Norm::rms_norm) {
      float squares = 0;
      for (int64_t v = lane; v < vecs; v += 32) {
        const Vec e = load(src, v);
        for (int i = 0; i < kVec; ++i) squares += to_float(e.v[i]) * to_float(e.v[i]);
      }
      for (int offset = 16; offset > 0; offset /= 2)
        squares += __shfl_xor_sync(0xffffffffu, squares, offset);
      scale = 1.0f / fmaxf(sqrtf(squares), static_cast<float>(pro.eps));
    }
    for (int64_t v = lane; v < vecs; v += 32) {
      const Vec e = load(src, v);
      Vec y;
      for (int i = 0; i < kVec; ++i) {
        const float2 coef = ab[n * s.c + v * kVec + i];
        float f = to_float(e.v[i]) * scale * coef.x + coef.y;
        if (pro.activation == Activation::silu) f = f / (1.0f + expf(-f));
        y.v[i] = from_float<T>(f);
      }
      reinterpret_cast<Vec*>(out + row * s.c)[v] = y;
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
  Input in{{const_cast<void*>(data), {}}, false};
  for (int i = 0; i < 5; ++i) in.x.stride[i] = strides[i];
  in.dense = strides[2] == s.w * strides[3] && strides[1] == s.h * strides[2];
  cuda::DeviceScope scope(device.index);
  const auto st = static_cast<cudaStream_t>(stream);
  const size_t bytes = static_cast<size_t>(s.n * s.pixels() * s.c * dtype_size(dtype));
  std::shared_ptr<void> buffer = cuda::shared_stream_buffer(device.index, st, bytes);
  if (bytes == 0) return buffer;
  // GroupNorm's sums per (n, channel) over chunks of pixels: about 1024 blocks of (chunk, 32
  // channels) in all, enough for every SM at video sizes, at least 256 pixels per chunk.
  const bool group_norm = prologue.norm == Norm::group_norm;
  const int64_t tiles = (s.c + 31) / 32;
  const int64_t chunks =
      std::clamp<int64_t>(1024 / (s.n * tiles), 1, std::max<int64_t>(s.pixels() / 256, 1));
  cuda::StreamBuffer sums(group_norm ? size_t(s.n * chunks * s.c) * sizeof(double2) : 0, st);
  cuda::StreamBuffer ab(size_t(s.n * s.c) * sizeof(float2), st);
  cuda::with_element_type(dtype, [&](auto element) {
    using T = decltype(element);
    if (group_norm) {
      channel_sums_kernel<T>
          <<<cuda::grid_for(s.n * chunks * tiles * kThreads, kThreads), kThreads, 0, st>>>(
              in, s, chunks, sums.get<double2>());
      VCONV_CUDA_CHECK_LAUNCH();
    }
    channel_affine_kernel<T><<<cuda::grid_for(s.n * s.c * 32, kThreads), kThreads, 0, st>>>(
        sums.get<double2>(), s, pro, chunks, ab.get<float2>());
    VCONV_CUDA_CHECK_LAUNCH();
    // 16-byte accesses where every pixel's channels start 16-byte aligned and are contiguous.
    constexpr int kVec = 16 / sizeof(T);
    const bool vectors = in.dense && cuda::channels_in_16_byte_units(s.c, sizeof(T), {&in.x});
    const auto grid = cuda::grid_for(s.n * s.pixels() * 32, kThreads);
    auto* y = static_cast<T*>(buffer.get());
    if (vectors)
      prologue_kernel<T, kVec><<<grid, kThreads, 0, st>>>(in, s, pro, ab.get<float2>(), y);
    else
      prologue_kernel<T, 1><<<grid, kThreads, 0, st>>>(in, s, pro, ab.get<float2>(), y);
    VCONV_CUDA_CHECK_LAUNCH();
  });
  return buffer;
}

}  // namespace vconv

#pragma once
// Stores fp32 results to the output: the fused epilogue (Options::epilogue: act(v + bias[o])),
// one rounding to the output dtype, accumulating when asked. Every CUDA algorithm stores through
// store_output(), so the epilogue's formula has this one owner on the GPU.
#include <cmath>

#include "core/float16.h"
#include "cuda/check.h"
#include "cuda/kernel_params.h"

namespace vconv::cuda {

// What a store applies: bias (of the output's type, per output channel, or nullptr), activation,
// and whether the result is added to the output.
struct EpilogueParams {
  const void* bias;
  Activation activation;
  bool accumulate;
};

// The caller's epilogue (validated by conv()) and accumulate flag.
inline EpilogueParams epilogue_params(const ConvArgs& a) {
  return {a.options.epilogue.bias.data, a.options.epilogue.activation, a.options.accumulate};
}

// A store into an fp32 accumulator that sums partial results (cuda_depth_tap_2d's taps): the
// epilogue applies once, where the sum is rounded to the output.
inline EpilogueParams partial_sum_params() {
  return {nullptr, Activation::none, true};
}

template <typename T>
__device__ inline void store_element(T* dst, float v, bool accumulate) {
  *dst = from_float<T>(accumulate ? to_float(*dst) + v : v);
}

// act(v + bias[channel]) for output channel `channel` (of all groups), in fp32.
template <typename T>
__device__ inline float epilogue_value(float v, int64_t channel, const EpilogueParams& e) {
  if (e.bias) v += to_float(static_cast<const T*>(e.bias)[channel]);
  if (e.activation == Activation::silu) v = v / (1.0f + expf(-v));
  return v;
}

// Stores conv result v of output channel `channel` at dst.
template <typename T>
__device__ inline void store_output(T* dst, float v, int64_t channel, const EpilogueParams& e) {
  store_element(dst, epilogue_value<T>(v, channel, e), e.accumulate);
}

// out[row r0 + r][g * og + o] (+)= epilogue(buf[r * og + o]); buf == nullptr stores the epilogue
// of zeros.
template <typename T>
__global__ void store_rows_kernel(const float* buf, int64_t nrows, Rows rows, int64_t r0,
                                  TensorRef out, int64_t og, int64_t g, EpilogueParams e) {
  const int64_t total = nrows * og;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / og, o = i % og;
    int64_t c[4];
    rows.coord(r0 + r, c);
    T* dst = static_cast<T*>(out.data) + out.offset(c[0], c[1], c[2], c[3], g * og + o);
    store_output(dst, buf ? buf[i] : 0.0f, g * og + o, e);
  }
}

// store_rows_kernel for an output of type t, launched on stream s and checked.
inline void store_rows(DType t, const float* buf, int64_t nrows, Rows rows, int64_t r0,
                       TensorRef out, int64_t og, int64_t g, const EpilogueParams& e,
                       cudaStream_t s) {
  constexpr int kThreads = 256;
  with_element_type(t, [&](auto element) {
    store_rows_kernel<decltype(element)>
        <<<grid_for(nrows * og, kThreads), kThreads, 0, s>>>(buf, nrows, rows, r0, out, og, g, e);
  });
  VCONV_CUDA_CHECK_LAUNCH();
}

}  // namespace vconv::cuda

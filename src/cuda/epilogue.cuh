#pragma once
// Stores fp32 results to the output: one rounding to the output dtype, accumulating when asked.
#include "core/float16.h"
#include "cuda/check.h"
#include "cuda/kernel_params.h"

namespace vconv::cuda {

template <typename T>
__device__ inline void store_element(T* dst, float v, bool accumulate) {
  *dst = from_float<T>(accumulate ? to_float(*dst) + v : v);
}

// out[row r0 + r][g * og + o] (+)= buf[r * og + o]; buf == nullptr stores zeros.
template <typename T>
__global__ void store_rows_kernel(const float* buf, int64_t nrows, Rows rows, int64_t r0,
                                  TensorRef out, int64_t og, int64_t g, bool accumulate) {
  const int64_t total = nrows * og;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / og, o = i % og;
    int64_t c[4];
    rows.coord(r0 + r, c);
    T* dst = static_cast<T*>(out.data) + out.offset(c[0], c[1], c[2], c[3], g * og + o);
    store_element(dst, buf ? buf[i] : 0.0f, accumulate);
  }
}

// store_rows_kernel for an output of type t, launched on stream s and checked.
inline void store_rows(DType t, const float* buf, int64_t nrows, Rows rows, int64_t r0,
                       TensorRef out, int64_t og, int64_t g, bool accumulate, cudaStream_t s) {
  constexpr int kThreads = 256;
  with_element_type(t, [&](auto element) {
    store_rows_kernel<decltype(element)><<<grid_for(nrows * og, kThreads), kThreads, 0, s>>>(
        buf, nrows, rows, r0, out, og, g, accumulate);
  });
  VCONV_CUDA_CHECK_LAUNCH();
}

}  // namespace vconv::cuda

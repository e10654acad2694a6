#pragma once
// The epilogue of the implicit-GEMM conv: fp32 accumulators to the output, one rounding to the
// output type (or fp32 kept as is for an accumulator buffer), accumulating when asked.
#include "cuda/epilogue.cuh"
#include "cuda/implicit_gemm/mainloop.cuh"

namespace vconv::cuda::implicit_gemm {

template <typename C, typename Out>
__device__ inline void store_tile(const Params& p, int64_t m0, int64_t n0, int64_t g,
                                  const float (&acc)[C::kMI][C::kNI][4]) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int wm = warp / C::kWarpsN, wn = warp % C::kWarpsN;
  Out* out = static_cast<Out*>(p.out.data);
#pragma unroll
  for (int mi = 0; mi < C::kMI; ++mi)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int64_t row = m0 + wm * C::kWM + mi * 16 + lane / 4 + half * 8;
      if (row >= p.m) continue;
      int64_t n, od, oh, ow;
      decode_row(p.geo, row, n, od, oh, ow);
      Out* base = out + p.out.offset(n, od, oh, ow, g * p.geo.og);
#pragma unroll
      for (int ni = 0; ni < C::kNI; ++ni)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int64_t col = n0 + wn * C::kWN + ni * 8 + (lane % 4) * 2 + e;
          if (col < p.geo.og) store_element(base + col, acc[mi][ni][half * 2 + e], p.accumulate);
        }
    }
}

}  // namespace vconv::cuda::implicit_gemm

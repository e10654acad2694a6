#pragma once
// The explicit-GEMM operands of cuda_gemm_fallback: im2col rows of one stride phase, and the
// weight packed to match. Both copy elements as they are (no arithmetic), so they are templated
// on the element's storage type only.
#include "cuda/kernel_params.h"

namespace vconv::cuda {

// col[r][(t, ci)] = input at (row r0 + r, tap t) of group g, zero where the tap reads padding.
template <typename E>
__global__ void im2col_kernel(TensorRef in, Geometry geo, Rows rows, Taps taps, int64_t g,
                              int64_t r0, int64_t nrows, E* col) {
  const int64_t ntaps = taps.count[0] * taps.count[1] * taps.count[2];
  const int64_t cols = ntaps * geo.cg;
  const int64_t total = nrows * cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / cols, rem = i % cols, t = rem / geo.cg, ci = rem % geo.cg;
    int64_t c[4];
    rows.coord(r0 + r, c);
    const int64_t jw = t % taps.count[2], jh = t / taps.count[2] % taps.count[1],
                  jd = t / (taps.count[2] * taps.count[1]);
    const int64_t id = source_index(geo.dim[0], c[1], taps.first[0] + taps.step[0] * jd);
    const int64_t ih = source_index(geo.dim[1], c[2], taps.first[1] + taps.step[1] * jh);
    const int64_t iw = source_index(geo.dim[2], c[3], taps.first[2] + taps.step[2] * jw);
    E v{};
    if (id >= 0 && ih >= 0 && iw >= 0)
      v = static_cast<const E*>(in.data)[in.offset(c[0], id, ih, iw, g * geo.cg + ci)];
    col[i] = v;
  }
}

// packed[o][(t, ci)] = weight of output channel g * og + o at tap t, mirrored under flip.
template <typename E>
__global__ void pack_weight_kernel(TensorRef w, Geometry geo, Taps taps, int64_t g, E* packed) {
  const int64_t ntaps = taps.count[0] * taps.count[1] * taps.count[2];
  const int64_t cols = ntaps * geo.cg;
  const int64_t total = geo.og * cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = i / cols, rem = i % cols, t = rem / geo.cg, ci = rem % geo.cg;
    const int64_t jw = t % taps.count[2], jh = t / taps.count[2] % taps.count[1],
                  jd = t / (taps.count[2] * taps.count[1]);
    int64_t k[3] = {taps.first[0] + taps.step[0] * jd, taps.first[1] + taps.step[1] * jh,
                    taps.first[2] + taps.step[2] * jw};
    if (geo.flip)
      for (int d = 0; d < 3; ++d) k[d] = geo.k[d] - 1 - k[d];
    packed[i] = static_cast<const E*>(w.data)[w.offset(g * geo.og + o, k[0], k[1], k[2], ci)];
  }
}

}  // namespace vconv::cuda

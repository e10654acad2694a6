#pragma once
// Stores fp32 results to the output: the fused epilogue (Options::epilogue: act(v + bias[o]) +
// residual), one rounding to the output dtype, accumulating when asked, at the position
// depth-to-space gives (ConvParams::depth_to_space, stored_index() of core/index_map.h). Every
// CUDA algorithm stores through OutputRow, so the epilogue's formula and the output's index map
// have this one owner on the GPU.
#include <cmath>
#include <cstdint>

#include "core/float16.h"
#include "core/validate.h"
#include "cuda/check.h"
#include "cuda/kernel_params.h"

namespace vconv::cuda {

// What a store applies: bias (of the output's type, per output channel, or nullptr), activation,
// residual (the output's shape, a unit channel stride; data nullptr: none), whether the result is
// added to the output, and where the conv's outputs are stored (depth-to-space; factors 1: where
// the conv computes them).
struct EpilogueParams {
  const void* bias;
  Activation activation;
  bool accumulate;
  TensorRef residual;
  DepthToSpace to_space;
  VCONV_HOST_DEVICE bool moves_outputs() const {
    return to_space.r[0] * to_space.r[1] * to_space.r[2] > 1;
  }
};

// The caller's epilogue (validated by conv()), accumulate flag and depth-to-space.
inline EpilogueParams epilogue_params(const ConvArgs& a) {
  const Epilogue& e = a.options.epilogue;
  const Problem& p = a.problem;
  return {e.bias.data, e.activation, a.options.accumulate,
          e.residual.data ? tensor_ref(checked_view5(e.residual)) : TensorRef{},
          depth_to_space_of(p)};
}

// A store into an fp32 accumulator that sums partial results (cuda_depth_tap_2d's taps) shaped as
// the conv's output grid: the epilogue applies once, where the sum is rounded to the output.
inline EpilogueParams partial_sum_params() {
  return {nullptr, Activation::none, true, TensorRef{}, DepthToSpace{{1, 1, 1}, 1}};
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

// How a tile's stores run, decided once per tile (the same for every thread): each kind has its
// own unrolled store loop, so that a kernel runs only the instructions its epilogue needs. With
// one loop for every kind, unrolled over a 256 x 128 tile, the depth-to-space index map and the
// epilogue's formula per element made the warp-specialized kernel 1.6 MB of SASS: more than the
// instruction cache, fetched anew for every tile.
//   plain: no bias, activation, residual or accumulation, where the conv computes them;
//   fused: the epilogue's formula, where the conv computes them;
//   moved: anything, at the positions depth-to-space gives.
enum class StoreKind { plain, fused, moved };
VCONV_HOST_DEVICE inline StoreKind store_kind(const EpilogueParams& e) {
  if (e.moves_outputs()) return StoreKind::moved;
  if (e.bias || e.activation != Activation::none || e.residual.data || e.accumulate)
    return StoreKind::fused;
  return StoreKind::plain;
}

// Stores v0 at dst[0] and, when `second`, v1 at dst[1]: one 4-byte store for 16-bit outputs where
// the address allows it.
template <typename T>
__device__ inline void store_values(T* dst, float v0, float v1, bool second) {
  if constexpr (sizeof(T) == 2) {
    if (second && reinterpret_cast<uintptr_t>(dst) % 4 == 0) {
      *reinterpret_cast<uint32_t*>(dst) =
          uint32_t(from_float<T>(v0).bits) | uint32_t(from_float<T>(v1).bits) << 16;
      return;
    }
  }
  dst[0] = from_float<T>(v0);
  if (second) dst[1] = from_float<T>(v1);
}

// The stores of one output row, conv output position (n, od, oh, ow): each output channel of
// the conv through the epilogue to where it is stored. Without depth-to-space the row's channels
// are contiguous in the output and in the residual (unit channel strides), so a store is one
// offset from the row's bases; with it, each channel has its own position (stored_index()),
// and only a time block's channels stay side by side.
template <typename T>
struct OutputRow {
  const TensorRef& output;
  const EpilogueParams& e;
  int64_t n, pos[3];
  int64_t first;      // the output channel the bases point at
  T* out;             // channel `first` of the row (without depth-to-space)
  const T* residual;  // likewise, or nullptr

  __device__ OutputRow(const TensorRef& o, const EpilogueParams& ep, int64_t n_, int64_t od,
                       int64_t oh, int64_t ow, int64_t first_channel)
      : output(o), e(ep), n(n_), pos{od, oh, ow}, first(first_channel) {
    out = static_cast<T*>(o.data) + o.offset(n, od, oh, ow, first);
    residual = e.residual.data ? static_cast<const T*>(e.residual.data) +
                                     e.residual.offset(n, od, oh, ow, first)
                               : nullptr;
  }

  // Where output channel `channel` (of all groups) is stored, and its residual (or nullptr);
  // `next_adjacent`: whether channel + 1 is stored (and its residual read) right after it.
  struct Target {
    T* out;
    const T* residual;
    bool next_adjacent;
  };
  __device__ Target locate(int64_t channel) const {
    if (!e.moves_outputs())
      return {out + (channel - first), residual ? residual + (channel - first) : nullptr, true};
    const StoredIndex at = stored_index(e.to_space, pos[0], pos[1], pos[2], channel);
    T* dst = static_cast<T*>(output.data) +
             output.offset(n, at.pos[0], at.pos[1], at.pos[2], at.channel);
    const T* res = residual ? static_cast<const T*>(e.residual.data) +
                                  e.residual.offset(n, at.pos[0], at.pos[1], at.pos[2], at.channel)
                            : nullptr;
    // Space blocks interleave neighbouring channels; a time block keeps them until its end.
    return {dst, res,
            e.to_space.r[1] * e.to_space.r[2] == 1 && at.channel + 1 < e.to_space.channels};
  }

  // act(v + bias) + residual of output channel `channel` (of all groups), stored (or added).
  __device__ void store(int64_t channel, float v) const {
    const Target t = locate(channel);
    v = epilogue_value<T>(v, channel, e);
    if (t.residual) v += to_float(*t.residual);
    store_element(t.out, v, e.accumulate);
  }

  // Channels `channel` and `channel` + 1 (when `second`), stored the way kind K says (the
  // caller's store_kind(e)).
  template <StoreKind K>
  __device__ void store_pair(int64_t channel, float v0, float v1, bool second) const {
    if constexpr (K == StoreKind::moved) {
      const Target t = locate(channel);
      const bool pair = second && t.next_adjacent;
      store_fused(t.out, t.residual, channel, v0, v1, pair);  // channel + 1 too where adjacent
      if (second && !pair) store(channel + 1, v1);
    } else if constexpr (K == StoreKind::fused) {
      store_fused(out + (channel - first), residual ? residual + (channel - first) : nullptr,
                  channel, v0, v1, second);
    } else {
      store_values(out + (channel - first), v0, v1, second);
    }
  }

  // The epilogue of channels `channel` and `channel` + 1 (when `second`), stored side by side
  // at dst (their residuals side by side at res, or nullptr).
  __device__ void store_fused(T* dst, const T* res, int64_t channel, float v0, float v1,
                              bool second) const {
    v0 = epilogue_value<T>(v0, channel, e);
    if (second) v1 = epilogue_value<T>(v1, channel + 1, e);
    if (res) {
      v0 += to_float(res[0]);
      if (second) v1 += to_float(res[1]);
    }
    if (e.accumulate) {
      v0 += to_float(dst[0]);
      if (second) v1 += to_float(dst[1]);
    }
    store_values(dst, v0, v1, second);
  }
};

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
    const OutputRow<T> row(out, e, c[0], c[1], c[2], c[3], g * og);
    row.store(g * og + o, buf ? buf[i] : 0.0f);
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

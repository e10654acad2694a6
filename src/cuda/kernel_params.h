#pragma once
// Plain structs that carry a problem's geometry and tensors into kernels by value.
#include <cstdint>
#include <initializer_list>

#include "core/algorithm.h"
#include "core/index_map.h"
#include "core/stride_phase.h"

namespace vconv::cuda {

// A 5D strided tensor (strides in elements).
struct TensorRef {
  void* data;
  int64_t stride[5];
  VCONV_HOST_DEVICE int64_t offset(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e) const {
    return a * stride[0] + b * stride[1] + c * stride[2] + d * stride[3] + e * stride[4];
  }
};

// Whether the channels of every ref (those with data) can move in 16-byte units of
// 16 / element_bytes elements: a unit channel stride, `channels` and every other stride multiples
// of the unit, bases 16-byte aligned. The one owner of that decision for the kernels that copy or
// transform channels (frame_cache.cu, prologue.cu).
inline bool channels_in_16_byte_units(int64_t channels, int64_t element_bytes,
                                      std::initializer_list<const TensorRef*> refs) {
  const int64_t k = 16 / element_bytes;
  if (channels % k != 0) return false;
  for (const TensorRef* r : refs) {
    if (r->data == nullptr) continue;
    if (r->stride[4] != 1 || reinterpret_cast<uintptr_t>(r->data) % 16 != 0) return false;
    for (int i = 0; i < 4; ++i)
      if (r->stride[i] % k != 0) return false;
  }
  return true;
}

inline TensorRef tensor_ref(const View5& v) {
  TensorRef t{v.data, {}};
  for (int i = 0; i < 5; ++i) t.stride[i] = v.strides[i];
  return t;
}

// The frames a streaming conv reads before its input (Options::frame_cache.previous), through
// streamed_frame() of core/index_map.h; count 0: none (a plain call or a first chunk).
struct CachedFrames {
  TensorRef frames;
  int64_t count;
};

struct Geometry {
  DimMap dim[3];
  int64_t k[3], out[3];
  int64_t n, cg, og;
  bool flip;
};

inline Geometry geometry(const Problem& p) {
  Geometry g{};
  for (int i = 0; i < 3; ++i) {
    g.dim[i] = dim_map(p, i);
    g.k[i] = p.k[i];
    g.out[i] = p.out[i];
  }
  g.n = p.n;
  g.cg = p.cg();
  g.og = p.og();
  g.flip = p.flip;
  return g;
}

// (n, od, oh, ow) of output row `row` (rows run over [N, OD, OH, OW] in order).
VCONV_HOST_DEVICE inline void decode_row(const Geometry& g, int64_t row, int64_t& n, int64_t& od,
                                         int64_t& oh, int64_t& ow) {
  // Three divisions, 32-bit where they fit (quotient()): the kernels decode rows per tile and
  // per stored row.
  const int64_t h_rows = quotient(row, g.out[2]);  // n * OD * OH + od * OH + oh
  ow = row - h_rows * g.out[2];
  const int64_t d_rows = quotient(h_rows, g.out[1]);
  oh = h_rows - d_rows * g.out[1];
  n = quotient(d_rows, g.out[0]);
  od = d_rows - n * g.out[0];
}

// A set of output positions (see core/row_grid.h).
struct Rows {
  int64_t start[3], step[3], count[3];
  VCONV_HOST_DEVICE void coord(int64_t r, int64_t c[4]) const {
    const int64_t w = r % count[2], h = r / count[2] % count[1];
    const int64_t d = r / (count[2] * count[1]) % count[0];
    c[0] = r / (count[2] * count[1] * count[0]);
    c[1] = start[0] + step[0] * d;
    c[2] = start[1] + step[1] * h;
    c[3] = start[2] + step[2] * w;
  }
};

struct Taps {
  int64_t first[3], step[3], count[3];
};

inline Rows rows_of(const RowGrid& grid) {
  Rows r{};
  for (int i = 0; i < 3; ++i) {
    r.start[i] = grid.start[i];
    r.step[i] = grid.step[i];
    r.count[i] = grid.count[i];
  }
  return r;
}

inline Taps taps_of(const Phase& ph) {
  Taps t{};
  for (int i = 0; i < 3; ++i) {
    t.first[i] = ph.taps[i].first;
    t.step[i] = ph.taps[i].step;
    t.count[i] = ph.taps[i].count;
  }
  return t;
}

// Calls f(T{}) with the element type of `t`: float, Half or BFloat16.
template <typename F>
void with_element_type(DType t, F&& f) {
  switch (t) {
    case DType::f32:
      return f(float{});
    case DType::f16:
      return f(Half{});
    case DType::bf16:
      return f(BFloat16{});
  }
}

// Blocks for a grid-stride loop over `total` items.
inline unsigned grid_for(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65536 * 16 ? (blocks > 0 ? blocks : 1) : 65536 * 16);
}

}  // namespace vconv::cuda

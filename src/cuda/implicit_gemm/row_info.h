#pragma once
// A CTA tile's output rows as the implicit-GEMM kernels' producers address the input: the row
// state init_rows() keeps in shared memory and, where every dimension's map is a shifted identity
// (Params::affine_taps), a tap's source as one offset. Host and device code, so that the CPU
// tests hold affine_source() to the index map (tests/test_affine_taps.cpp).
#include <cstdint>

#include "core/index_map.h"
#include "cuda/kernel_params.h"

namespace vconv::cuda::implicit_gemm {

// One output row of the CTA tile, in shared memory (registers hold only the current tap's input
// offsets): its batch index (-1 past the last row) and, per dimension, the padded-input position
// of tap 0 (out * stride - pad_lo), so that a tap costs one multiply-add and input_index_at() per
// dimension (input dilation is 1 here: no division unless the input is upsampled). Where every
// map is a shifted identity (Params::affine_taps), the row keeps instead the input offset of tap
// (0, 0, 0)'s source and one mask of the taps whose source lies inside the input, per dimension
// (bits [0, KD) for the depth taps, then KH bits, then KW: affine_tap_bits()): a tap's source is
// then that offset plus one per-tap constant, read where the row's mask holds the tap's three
// bits (Mainloop::begin_tap: an AND and a compare per row).
struct RowInfo {
  int64_t n;
  union {
    int64_t q0[3];
    struct {
      int64_t base;  // outside the input where tap (0, 0, 0) reads padding; used only when valid
      uint32_t valid;
    } affine;
  };
};

// The state of output row `row` (of m) of the input `in`, in the form affine_taps asks for.
VCONV_HOST_DEVICE inline RowInfo row_info(const Geometry& geo, const TensorRef& in, int64_t m,
                                          bool affine_taps, int64_t row) {
  RowInfo ri{-1, {{0, 0, 0}}};  // past the last row: affine masks of no tap
  if (row >= m) return ri;
  int64_t n, od, oh, ow;
  decode_row(geo, row, n, od, oh, ow);
  ri.n = n;
  const int64_t o[3] = {od, oh, ow};
  int64_t q0[3];
  for (int d = 0; d < 3; ++d) q0[d] = o[d] * geo.dim[d].stride - geo.dim[d].pad_lo;
  if (!affine_taps) {
    for (int d = 0; d < 3; ++d) ri.q0[d] = q0[d];
    return ri;
  }
  ri.affine.base = n * in.stride[0];
  ri.affine.valid = 0;
  for (int d = 0, first_bit = 0; d < 3; first_bit += static_cast<int>(geo.k[d]), ++d) {
    const DimMap& map = geo.dim[d];
    ri.affine.base += q0[d] * in.stride[d + 1];
    for (int t = 0; t < geo.k[d]; ++t)
      if (input_index_at(map, q0[d] + t * map.kdil) >= 0) ri.affine.valid |= 1u << (first_bit + t);
  }
  return ri;
}

// Where tap (kd, kh, kw) of an affine row reads, in two parts so that a producer computes the
// tap's part once for all its rows: the tap's offset from a row's base (the same for every row),
// and whether the row reads the input through the tap (never for rows past the last, whose masks
// row_info() leaves zero).
VCONV_HOST_DEVICE inline int64_t affine_tap_offset(const Geometry& geo, const TensorRef& in, int kd,
                                                   int kh, int kw) {
  return kd * geo.dim[0].kdil * in.stride[1] + kh * geo.dim[1].kdil * in.stride[2] +
         kw * geo.dim[2].kdil * in.stride[3];
}
// The bits of tap (kd, kh, kw) in a row's mask.
VCONV_HOST_DEVICE inline uint32_t affine_tap_bits(const Geometry& geo, int kd, int kh, int kw) {
  return 1u << kd | 1u << (geo.k[0] + kh) | 1u << (geo.k[0] + geo.k[1] + kw);
}
VCONV_HOST_DEVICE inline bool affine_reads(const RowInfo& ri, uint32_t tap_bits) {
  return (ri.affine.valid & tap_bits) == tap_bits;
}

// Both parts together: the element offset from the input's data (group 0, channel 0) and whether
// it is read.
struct AffineSource {
  bool valid;
  int64_t offset;
};
VCONV_HOST_DEVICE inline AffineSource affine_source(const RowInfo& ri, const Geometry& geo,
                                                    const TensorRef& in, int kd, int kh, int kw) {
  return {affine_reads(ri, affine_tap_bits(geo, kd, kh, kw)),
          ri.affine.base + affine_tap_offset(geo, in, kd, kh, kw)};
}

// Params::affine_taps: a shifted identity in every dimension, taps that fit the rows' 32-bit
// masks (KD + KH + KW <= 32), no frame cache (count: its frames).
inline bool affine_taps(const Geometry& geo, int64_t cached_frames) {
  if (cached_frames > 0 || geo.k[0] + geo.k[1] + geo.k[2] > 32) return false;
  for (int d = 0; d < 3; ++d)
    if (!is_shifted_identity(geo.dim[d])) return false;
  return true;
}

}  // namespace vconv::cuda::implicit_gemm

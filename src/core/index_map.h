#pragma once
// The one place that says which input sample an output position reads through a kernel tap.
// For one spatial dimension, output index `out` and kernel tap `tap` (unflipped) read position
//   q = out * stride + tap * kdil - pad_lo
// of the padded, input-dilated signal. That signal is the input upsampled (nearest) by `up` to
// upsampled_length() samples, with idil - 1 zeros between them, extended on both sides by its pad
// mode. The result is the input index, or -1 when the tap reads a zero (zero padding or an
// inserted zero). Upsampling is this division, never an upsampled copy.
// The depth-tap algorithms use the same map over frames: causal padding and frame-shifted views
// are this function, never a padded copy; so are a streaming conv's cached frames
// (streamed_source_frame below).
#include <cstdint>

#include "core/float16.h"  // VCONV_HOST_DEVICE
#include "vconv/conv_params.h"
#include "vconv/problem.h"

namespace vconv {

// a / b for a >= 0, b > 0: 32-bit where both fit. The GPU kernels call the maps below per
// element or per row and tap, where a 64-bit division costs several times a 32-bit one.
VCONV_HOST_DEVICE inline int64_t quotient(int64_t a, int64_t b) {
  if (a <= UINT32_MAX && b <= UINT32_MAX)
    return static_cast<uint32_t>(a) / static_cast<uint32_t>(b);
  return a / b;
}

struct DimMap {
  int64_t in, stride, pad_lo, kdil, idil;
  PadMode mode;
  int64_t up = 1;  // nearest-neighbour upsampling factor of the input (ConvParams::upsample)
  bool first_once = false;  // sample 0 upsampled once (ConvParams::causal_upsample)
};

// The map of the problem's dimension in slot i (0..2, as Problem's 3D arrays).
inline DimMap dim_map(const Problem& p, int i) {
  return {p.in[i],   p.stride[i], p.pad_lo[i], p.kdil[i],
          p.idil[i], p.mode[i],   p.up[i],     p.causal_up && i == 3 - p.dims};
}

// The input's length after upsampling: in * up, or 1 + (in - 1) * up when sample 0 stays once.
VCONV_HOST_DEVICE inline int64_t upsampled_length(const DimMap& d) {
  return d.first_once ? (d.in - 1) * d.up + 1 : d.in * d.up;
}

// Position q of a signal of length len extended by `mode`: q itself inside [0, len), else the
// replicated or reflected position, or -1 for zero padding.
VCONV_HOST_DEVICE inline int64_t pad_map(int64_t q, int64_t len, PadMode mode) {
  if (q >= 0 && q < len) return q;
  if (mode == PadMode::zeros) return -1;
  if (mode == PadMode::replicate) return q < 0 ? 0 : len - 1;
  return q < 0 ? -q
               : 2 * (len - 1) -
                     q;  // reflect, without repeating the edge; validation keeps padding < len
}

// The input index at position q of the input-dilated signal extended by its pad mode (q < 0
// before sample 0), or -1 when it reads a zero.
VCONV_HOST_DEVICE inline int64_t input_index_at(const DimMap& d, int64_t q) {
  if (d.idil == 1 && d.up == 1) return pad_map(q, d.in, d.mode);  // the common case, no division
  const int64_t len = (upsampled_length(d) - 1) * d.idil + 1;
  q = pad_map(q, len, d.mode);
  if (q < 0) return -1;
  int64_t u = q;  // the upsampled sample, where q is not an inserted zero
  if (d.idil != 1) {
    u = quotient(q, d.idil);
    if (u * d.idil != q) return -1;
  }
  // Upsampled sample u comes from input sample u / up, or (u + up - 1) / up when sample 0 stays
  // once (u = 0 from 0, then up samples from each later one).
  return quotient(d.first_once ? u + d.up - 1 : u, d.up);
}

// Whether the map is the identity on [0, in) and zero outside it (zero padding, no input
// dilation, no upsampling): a tap's source is then out * stride + tap * kdil - pad_lo, read where
// it lies inside the input, so that a kernel may step it by a constant offset per tap.
VCONV_HOST_DEVICE inline bool is_shifted_identity(const DimMap& d) {
  return d.idil == 1 && d.up == 1 && !d.first_once && d.mode == PadMode::zeros;
}

VCONV_HOST_DEVICE inline int64_t source_index(const DimMap& d, int64_t out, int64_t tap) {
  return input_index_at(d, out * d.stride + tap * d.kdil - d.pad_lo);
}

// Streaming (Options::frame_cache): the time dimension continues a previous chunk, whose last
// `cached` frames precede frame 0 (input dilation 1 in time, validated). A frame is then read
// from the cache, from the input, or is a zero (index -1) where the pad mode says so.
struct FrameSource {
  int64_t index;
  bool from_cache;
};

// Frame q of the streamed input (q < 0 before frame 0): cached frame cached + q for
// -cached <= q < 0, else what the pad mode gives (cached = 0: no cache, the first chunk).
VCONV_HOST_DEVICE inline FrameSource streamed_frame(const DimMap& d, int64_t cached, int64_t q) {
  if (q < 0 && q >= -cached) return {cached + q, true};
  return {input_index_at(d, q), false};
}

// The frame that output frame `out` reads through tap `tap` of a streamed input.
VCONV_HOST_DEVICE inline FrameSource streamed_source_frame(const DimMap& d, int64_t cached,
                                                           int64_t out, int64_t tap) {
  return streamed_frame(d, cached, out * d.stride + tap * d.kdil - d.pad_lo);
}

// Frame j of the next cache, the last `frames` frames of (cache ++ input): from the cache too
// when the input is shorter than `frames`.
VCONV_HOST_DEVICE inline FrameSource next_cache_frame(const DimMap& d, int64_t cached,
                                                      int64_t frames, int64_t j) {
  return streamed_frame(d, cached, d.in - frames + j);
}

// Depth-to-space (ConvParams::depth_to_space): where the conv's output channel o at grid position
// pos is stored. With C' = O / (r0 * r1 * r2) stored channels, o = (k * C' + c) * r1 * r2 + i * r2
// + j goes to (pos0 * r0 + k, pos1 * r1 + i, pos2 * r2 + j), channel c: the time blocks whole
// (Wan's upsample3d), then pixel_shuffle's order.
struct DepthToSpace {
  int64_t r[3];
  int64_t channels;  // C', the stored tensor's channels
};

struct StoredIndex {
  int64_t pos[3];
  int64_t channel;
};

// A GPU store calls this per element: the divisions a factor of 1 makes trivial are skipped.
VCONV_HOST_DEVICE inline StoredIndex stored_index(const DepthToSpace& m, int64_t pos0, int64_t pos1,
                                                  int64_t pos2, int64_t o) {
  int64_t i = 0, j = 0, sub = o;  // sub = k * C' + c
  if (m.r[1] * m.r[2] > 1) {
    const int64_t column = quotient(o, m.r[2]);  // sub * r1 + i
    j = o - column * m.r[2];
    sub = quotient(column, m.r[1]);
    i = column - sub * m.r[1];
  }
  const int64_t k = m.r[0] > 1 ? quotient(sub, m.channels) : 0;
  return {{pos0 * m.r[0] + k, pos1 * m.r[1] + i, pos2 * m.r[2] + j}, sub - k * m.channels};
}

// The problem's depth-to-space map (factors 1: the identity).
inline DepthToSpace depth_to_space_of(const Problem& p) {
  return {{p.d2s[0], p.d2s[1], p.d2s[2]}, p.stored_channels()};
}

}  // namespace vconv

#pragma once
// The one place that says which input sample an output position reads through a kernel tap.
// For one spatial dimension, output index `out` and kernel tap `tap` (unflipped) read position
//   q = out * stride + tap * kdil - pad_lo
// of the padded, input-dilated signal. That signal is the input with idil - 1 zeros between
// samples (length (in - 1) * idil + 1), extended on both sides by its pad mode. The result is the
// input index, or -1 when the tap reads a zero (zero padding or an inserted zero).
// The depth-tap algorithms use the same map over frames: causal padding and frame-shifted views
// are this function, never a padded copy.
#include <cstdint>

#include "core/float16.h"  // VCONV_HOST_DEVICE
#include "vconv/conv_params.h"

namespace vconv {

struct DimMap {
  int64_t in, stride, pad_lo, kdil, idil;
  PadMode mode;
};

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

VCONV_HOST_DEVICE inline int64_t source_index(const DimMap& d, int64_t out, int64_t tap) {
  const int64_t len = (d.in - 1) * d.idil + 1;
  const int64_t q = pad_map(out * d.stride + tap * d.kdil - d.pad_lo, len, d.mode);
  if (q < 0 || q % d.idil != 0) return -1;
  return q / d.idil;
}

}  // namespace vconv

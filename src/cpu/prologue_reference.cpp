#include "cpu/prologue_reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/float16.h"

namespace vconv::cpu {
namespace {

// A per-channel vector of the prologue in double, `fallback` for each channel when absent.
std::vector<double> channel_values(const TensorView& t, int64_t channels, double fallback) {
  std::vector<double> v(static_cast<size_t>(channels), fallback);
  if (t.data == nullptr) return v;
  for (int64_t c = 0; c < channels; ++c) switch (t.dtype) {
      case DType::f32:
        v[c] = static_cast<const float*>(t.data)[c];
        break;
      case DType::f16:
        v[c] = to_float(static_cast<const Half*>(t.data)[c]);
        break;
      case DType::bf16:
        v[c] = to_float(static_cast<const BFloat16*>(t.data)[c]);
        break;
    }
  return v;
}

template <typename T>
void prologue(const Prologue& pro, const View5& in, T* out) {
  const int64_t n_count = in.shape[0], d_count = in.shape[1], h_count = in.shape[2],
                w_count = in.shape[3], channels = in.shape[4];
  const int64_t pixels = d_count * h_count * w_count;
  const T* x = static_cast<const T*>(in.data);
  auto at = [&](int64_t n, int64_t pixel, int64_t c) {
    const int64_t d = pixel / (h_count * w_count), h = pixel / w_count % h_count,
                  w = pixel % w_count;
    return static_cast<double>(to_float(x[in.offset(n, d, h, w, c)]));
  };
  const bool affine_norm = pro.norm != Norm::none;
  const std::vector<double> scale = channel_values(pro.scale, channels, 1.0);
  const std::vector<double> shift = channel_values(pro.shift, channels, 0.0);
  // a[n, c] and b[n, c]; s[n, pixel] is computed per pixel below.
  std::vector<double> a(static_cast<size_t>(n_count * channels)), b(a.size());
  for (int64_t n = 0; n < n_count; ++n)
    for (int64_t c = 0; c < channels; ++c) {
      double& an = a[n * channels + c];
      double& bn = b[n * channels + c];
      an = affine_norm ? scale[c] : 1.0;
      bn = affine_norm ? shift[c] : 0.0;
      if (pro.norm == Norm::rms_norm) an *= std::sqrt(static_cast<double>(channels));
    }
  if (pro.norm == Norm::group_norm) {
    // Mean, then the (biased) variance around it: two passes, as exact as double allows.
    const int64_t per_group = channels / pro.groups;
    const double count = static_cast<double>(per_group * pixels);
    for (int64_t n = 0; n < n_count; ++n)
      for (int64_t g = 0; g < pro.groups; ++g) {
        double sum = 0, squares = 0;
        for (int64_t pixel = 0; pixel < pixels; ++pixel)
          for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) sum += at(n, pixel, c);
        const double mean = sum / count;
        for (int64_t pixel = 0; pixel < pixels; ++pixel)
          for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c)
            squares += (at(n, pixel, c) - mean) * (at(n, pixel, c) - mean);
        const double inv_std = 1.0 / std::sqrt(squares / count + pro.eps);
        for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
          a[n * channels + c] = scale[c] * inv_std;
          b[n * channels + c] = shift[c] - mean * scale[c] * inv_std;
        }
      }
  }
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < n_count * pixels; ++row) {
    const int64_t n = row / pixels, pixel = row % pixels;
    double s = 1.0;
    if (pro.norm == Norm::rms_norm) {
      double squares = 0;
      for (int64_t c = 0; c < channels; ++c) squares += at(n, pixel, c) * at(n, pixel, c);
      s = 1.0 / std::max(std::sqrt(squares), pro.eps);
    }
    for (int64_t c = 0; c < channels; ++c) {
      double v = at(n, pixel, c) * s * a[n * channels + c] + b[n * channels + c];
      if (pro.activation == Activation::silu) v = v / (1.0 + std::exp(-v));
      out[row * channels + c] = from_float<T>(static_cast<float>(v));
    }
  }
}

}  // namespace

void prologue_reference(const Prologue& pro, const View5& input, DType dtype, void* out) {
  switch (dtype) {
    case DType::f32:
      return prologue(pro, input, static_cast<float*>(out));
    case DType::f16:
      return prologue(pro, input, static_cast<Half*>(out));
    case DType::bf16:
      return prologue(pro, input, static_cast<BFloat16*>(out));
  }
}

}  // namespace vconv::cpu

#include "common/unfold_oracle.h"

namespace vconv::testing {
namespace {

// A dense double tensor [N, D, H, W, C].
struct Dense {
  std::array<int64_t, 5> shape;
  std::vector<double> v;
  explicit Dense(std::array<int64_t, 5> s)
      : shape(s), v(static_cast<size_t>(s[0] * s[1] * s[2] * s[3] * s[4])) {}
  double& at(const std::array<int64_t, 5>& i) {
    return v[static_cast<size_t>(
        (((i[0] * shape[1] + i[1]) * shape[2] + i[2]) * shape[3] + i[3]) * shape[4] + i[4])];
  }
};

// Builds a new tensor whose index j along `axis` takes source index f(j) (or zero when f < 0).
template <typename F>
Dense remap_axis(Dense& src, int axis, int64_t new_size, F f) {
  auto shape = src.shape;
  shape[axis] = new_size;
  Dense dst(shape);
  std::array<int64_t, 5> i{};
  for (i[0] = 0; i[0] < shape[0]; ++i[0])
    for (i[1] = 0; i[1] < shape[1]; ++i[1])
      for (i[2] = 0; i[2] < shape[2]; ++i[2])
        for (i[3] = 0; i[3] < shape[3]; ++i[3])
          for (i[4] = 0; i[4] < shape[4]; ++i[4]) {
            auto s = i;
            s[axis] = f(i[axis]);
            dst.at(i) = s[axis] < 0 ? 0.0 : src.at(s);
          }
  return dst;
}

}  // namespace

std::vector<double> conv_unfold(const Problem& p, const HostTensor& x, const HostTensor& w) {
  Dense t({p.n, p.in[0], p.in[1], p.in[2], p.c});
  for (int64_t i = 0; i < x.numel(); ++i) t.v[i] = x.get(i);
  for (int d = 0; d < 3; ++d) {
    const int axis = 1 + d;
    // 0. Nearest upsampling by `up`, an upsampled copy (sample 0 once under causal_upsample in
    // the first dimension, then `up` copies of each later one).
    const int64_t up = p.up[d];
    const bool first_once = p.causal_up && d == 3 - p.dims;
    const int64_t upsampled = first_once ? (p.in[d] - 1) * up + 1 : p.in[d] * up;
    t = remap_axis(t, axis, upsampled, [&](int64_t j) {
      return first_once ? (j == 0 ? 0 : (j - 1) / up + 1) : j / up;
    });
    // 1. Input dilation: idil - 1 zeros between samples.
    const int64_t len = (upsampled - 1) * p.idil[d] + 1;
    const int64_t idil = p.idil[d];
    t = remap_axis(t, axis, len, [&](int64_t j) { return j % idil ? -1 : j / idil; });
    // 2. Padding, one side at a time, by the pad mode; negative padding crops.
    const int64_t lo = p.pad_lo[d], hi = p.pad_hi[d];
    const PadMode mode = p.mode[d];
    t = remap_axis(t, axis, len + lo + hi, [&](int64_t j) -> int64_t {
      const int64_t s = j - lo;  // position in the dilated signal
      if (s >= 0 && s < len) return s;
      if (mode == PadMode::zeros) return -1;
      if (mode == PadMode::replicate) return s < 0 ? 0 : len - 1;
      return s < 0 ? -s : 2 * (len - 1) - s;  // reflect
    });
  }
  // 3. Weight as a matrix per group: rows (kd, kh, kw, ci) in the mirrored order under flip.
  const int64_t taps = p.k[0] * p.k[1] * p.k[2];
  const int64_t cols = taps * p.cg();
  std::vector<double> wm(static_cast<size_t>(p.o * cols));
  for (int64_t o = 0; o < p.o; ++o)
    for (int64_t tap = 0; tap < taps; ++tap)
      for (int64_t ci = 0; ci < p.cg(); ++ci) {
        const int64_t src_tap = p.flip ? taps - 1 - tap : tap;  // mirrors all three axes at once
        wm[o * cols + tap * p.cg() + ci] = w.get((o * taps + src_tap) * p.cg() + ci);
      }
  // 4. Unfold and multiply.
  const int64_t rows = p.n * p.out[0] * p.out[1] * p.out[2];
  std::vector<double> out(static_cast<size_t>(rows * p.o));
  std::vector<double> col(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t ow = r % p.out[2], oh = r / p.out[2] % p.out[1],
                  od = r / (p.out[2] * p.out[1]) % p.out[0],
                  n = r / (p.out[2] * p.out[1] * p.out[0]);
    for (int64_t g = 0; g < p.groups; ++g) {
      for (int64_t kd = 0; kd < p.k[0]; ++kd)
        for (int64_t kh = 0; kh < p.k[1]; ++kh)
          for (int64_t kw = 0; kw < p.k[2]; ++kw)
            for (int64_t ci = 0; ci < p.cg(); ++ci)
              col[((kd * p.k[1] + kh) * p.k[2] + kw) * p.cg() + ci] =
                  t.at({n, od * p.stride[0] + kd * p.kdil[0], oh * p.stride[1] + kh * p.kdil[1],
                        ow * p.stride[2] + kw * p.kdil[2], g * p.cg() + ci});
      for (int64_t o = g * p.og(); o < (g + 1) * p.og(); ++o) {
        double acc = 0;
        for (int64_t j = 0; j < cols; ++j) acc += col[j] * wm[o * cols + j];
        out[r * p.o + o] = acc;
      }
    }
  }
  if (p.d2s[0] * p.d2s[1] * p.d2s[2] == 1) return out;
  // 5. Depth-to-space: channel o = ((k * C' + c) * r1 + i) * r2 + j of position (od, oh, ow)
  // moves to position (od * r0 + k, oh * r1 + i, ow * r2 + j), channel c.
  const int64_t r0 = p.d2s[0], r1 = p.d2s[1], r2 = p.d2s[2], channels = p.o / (r0 * r1 * r2);
  const int64_t sd = p.out[0] * r0, sh = p.out[1] * r1, sw = p.out[2] * r2;
  std::vector<double> stored(out.size());
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t ow = r % p.out[2], oh = r / p.out[2] % p.out[1],
                  od = r / (p.out[2] * p.out[1]) % p.out[0],
                  n = r / (p.out[2] * p.out[1] * p.out[0]);
    for (int64_t o = 0; o < p.o; ++o) {
      const int64_t j = o % r2, i = o / r2 % r1, c = o / (r1 * r2) % channels,
                    k = o / (r1 * r2 * channels);
      const int64_t at =
          (((n * sd + od * r0 + k) * sh + oh * r1 + i) * sw + ow * r2 + j) * channels + c;
      stored[static_cast<size_t>(at)] = out[static_cast<size_t>(r * p.o + o)];
    }
  }
  return stored;
}

}  // namespace vconv::testing

#include "common/cases.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/device_copy.h"
#include "vconv/error.h"

#ifndef VCONV_SUITE_DIR
#define VCONV_SUITE_DIR "bench/suites"
#endif

namespace vconv::testing {
namespace {

int64_t pick(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

bool chance(std::mt19937_64& rng, double p) {
  return std::bernoulli_distribution(p)(rng);
}

}  // namespace

Problem random_problem(std::mt19937_64& rng, int64_t max_macs) {
  for (;;) {
    const int dims = static_cast<int>(pick(rng, 1, 3));
    const int64_t groups = chance(rng, 0.3) ? pick(rng, 2, 3) : 1;
    ConvParams params;
    params.groups = groups;
    params.flip = chance(rng, 0.3);
    std::vector<int64_t> in_shape{pick(rng, 1, 3)}, w_shape{groups * pick(rng, 1, 4)};
    for (int d = 0; d < dims; ++d) {
      const int64_t k = pick(rng, 1, 4);
      in_shape.push_back(pick(rng, 1, 9));
      w_shape.push_back(k);
      params.stride.push_back(chance(rng, 0.3) ? pick(rng, 2, 3) : 1);
      params.kernel_dilation.push_back(chance(rng, 0.25) ? 2 : 1);
      params.input_dilation.push_back(chance(rng, 0.2) ? pick(rng, 2, 3) : 1);
      const int r = static_cast<int>(pick(rng, 0, 3));
      params.pad_mode.push_back(r == 0   ? PadMode::replicate
                                : r == 1 ? PadMode::reflect
                                         : PadMode::zeros);
      if (chance(rng, 0.2)) {  // causal: all padding before
        params.padding_lo.push_back((k - 1) * params.kernel_dilation.back());
        params.padding_hi.push_back(0);
      } else {
        params.padding_lo.push_back(pick(rng, -1, 3));
        params.padding_hi.push_back(pick(rng, -1, 3));
      }
    }
    // Now and then the index maps of the video extensions: nearest upsampling (causal in the
    // first dimension too) and depth-to-space, whose factors' product then divides O.
    if (chance(rng, 0.15)) {
      for (int d = 0; d < dims; ++d) params.upsample.push_back(pick(rng, 1, 2));
      params.causal_upsample = params.upsample[0] > 1 && chance(rng, 0.3);
    }
    if (chance(rng, 0.15)) {
      int64_t blocks = 1;
      for (int d = 0; d < dims; ++d) blocks *= params.depth_to_space.emplace_back(pick(rng, 1, 2));
      w_shape[0] *= blocks;
    }
    const int64_t cg = pick(rng, 1, 5);
    in_shape.push_back(cg * groups);
    w_shape.push_back(cg);
    const DType dtype = static_cast<DType>(pick(rng, 0, 2));
    try {
      const Problem p = make_problem(in_shape, w_shape, params, dtype);
      if (p.macs() <= max_macs) return p;
    } catch (const Error&) {
      // Invalid draw (output size <= 0, reflect wider than the input): draw again.
    }
  }
}

Problem random_video_problem(std::mt19937_64& rng, int64_t max_macs) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (;;) {
    ConvParams q;
    // Half the draws have the 3x3 stride-1 spatial shape the Winograd path takes.
    const bool square = pick(0, 1) == 1;
    const int64_t kd = pick(1, 7), kh = square ? 3 : pick(1, 3), kw = square ? 3 : pick(1, 3);
    const int64_t groups = pick(1, 2), sd = pick(1, 2), dd = pick(1, 2);
    q.stride = {sd, square ? 1 : pick(1, 2), 1};
    q.kernel_dilation = {dd, 1, square ? 1 : pick(1, 2)};
    q.input_dilation = {1, !square && pick(0, 2) == 0 ? pick(2, 3) : 1, 1};
    const PadMode modes[3] = {PadMode::zeros, PadMode::replicate, PadMode::reflect};
    q.pad_mode = {modes[pick(0, 2)], modes[pick(0, 2)], modes[pick(0, 2)]};
    const int64_t causal = (kd - 1) * dd;
    switch (pick(0, 2)) {
      case 0:
        q.padding_lo = {causal, kh / 2, kw / 2};
        q.padding_hi = {0, kh / 2, kw / 2};
        break;
      case 1:
        q.padding_lo = {pick(0, 2), pick(0, 1), 1};
        q.padding_hi = {pick(0, 2), 1, pick(0, 1)};
        break;
      default:
        q.padding_lo = {0, 0, 0};
        q.padding_hi = {0, 0, 0};
        break;
    }
    q.groups = groups;
    q.flip = pick(0, 3) == 0;
    const int64_t cg = pick(1, 7), og = pick(1, 5);
    const DType dtype = static_cast<DType>(pick(0, 2));
    try {
      const Problem p =
          make_problem({pick(1, 3), causal + pick(1, 6), pick(2, 8), pick(2, 9), cg * groups},
                       {og * groups, kd, kh, kw, cg}, q, dtype);
      if (p.macs() <= max_macs) return p;
    } catch (const Error&) {
    }
  }
}

std::vector<SuiteCase> load_suite(const std::string& name) {
  std::string path = name;
  if (name.find('/') == std::string::npos && name.find('.') == std::string::npos)
    path = std::string(VCONV_SUITE_DIR) + "/" + name + ".txt";
  std::ifstream f(path);
  if (!f)
    throw Error("suite: cannot open '" + path +
                "' (expected seed, output_conv, vae, decode_chunks, block_convs or a file path)");
  std::vector<SuiteCase> cases;
  std::string line;
  while (std::getline(f, line)) {
    const size_t hash = line.find('#');
    std::string comment = hash == std::string::npos ? "" : line.substr(hash + 1);
    std::string text = line.substr(0, hash);
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    comment.erase(0, comment.find_first_not_of(' '));
    cases.push_back({parse_problem(text), comment});
  }
  return cases;
}

std::string CpuScale::to_string() const {
  std::ostringstream os;
  os << "T/" << time << ", H,W/" << space << ", channels/" << channels << " (at least 3)";
  return os.str();
}

Problem scale_problem(const Problem& p, const CpuScale& s) {
  auto in_shape = p.input_shape();
  auto w_shape = p.weight_shape();
  const int r = static_cast<int>(in_shape.size());
  for (int d = 0; d < p.dims; ++d) {
    const int i = 3 - p.dims + d;
    const int64_t f = (p.dims == 3 && d == 0) ? s.time : s.space;
    const int64_t need = (p.k[i] - 1) * p.kdil[i] + 1;  // keep at least the kernel's extent
    in_shape[1 + d] = std::max({p.in[i] / f, need, int64_t{1}});
  }
  auto scale_channels = [&](int64_t ch) {
    return ch <= 3 ? ch : std::max<int64_t>(3, ch / s.channels);
  };
  const int64_t cg = std::max<int64_t>(1, scale_channels(p.c) / p.groups);
  in_shape[r - 1] = cg * p.groups;
  w_shape[r - 1] = cg;
  w_shape[0] = std::max<int64_t>(1, scale_channels(p.o) / p.groups) * p.groups;
  return make_problem(in_shape, w_shape, p.params(), p.dtype);
}

Problem reduce_problem(const Problem& p, int64_t max_macs) {
  auto in_shape = p.input_shape();
  auto w_shape = p.weight_shape();
  in_shape[0] = 1;
  Problem r = make_problem(in_shape, w_shape, p.params(), p.dtype);
  // Halve the largest spatial extent that still gives a valid problem, then the output
  // channels, until the problem is small enough.
  std::vector<bool> stuck(p.dims, false);
  while (r.macs() > max_macs) {
    int best = -1;
    for (int d = 0; d < p.dims; ++d)
      if (!stuck[d] && in_shape[1 + d] > 1 && (best < 0 || in_shape[1 + d] > in_shape[1 + best]))
        best = d;
    auto next_in = in_shape;
    auto next_w = w_shape;
    if (best >= 0) {
      next_in[1 + best] /= 2;
    } else if (w_shape[0] / 2 >= p.groups && (w_shape[0] / 2) % p.groups == 0) {
      next_w[0] /= 2;
    } else {
      break;
    }
    try {
      r = make_problem(next_in, next_w, p.params(), p.dtype);
      in_shape = next_in;
      w_shape = next_w;
    } catch (const Error&) {
      if (best < 0) break;
      stuck[best] = true;
    }
  }
  return r;
}

// How much larger than a plain fp32 sum's the rounding error of a Winograd result may be (its
// transforms sum and scale the terms before and after the products), relative to the largest S
// of its tile: the largest seen over 30,000 random fp32 problems, 0.4 for F(2x2) and 2.05 for
// F(4x4) (docs/PERFORMANCE.md, "The error bound of vconv verify"), times 4-5.
constexpr double kWinogradF2x3Growth = 2;
constexpr double kWinogradF4x3Growth = 8;

ErrorModel error_model(const std::string& algorithm, DType dtype, Fp32Math fp32_math) {
  ErrorModel m;
  m.output_u = dtype == DType::f32 ? 0x1p-24 : dtype == DType::f16 ? 0x1p-11 : 0x1p-8;
  m.output_tiny = dtype == DType::f16 ? 0x1p-25 : 0;
  const bool cuda = algorithm.rfind("cuda_", 0) == 0;
  if (cuda && dtype == DType::f32)
    // TF32 rounds both operands to 10 mantissa bits (2^-11 each); exact fp32 through three TF32
    // products drops the small x small one and rounds the small parts (about 3 * 2^-22).
    m.product_u = fp32_math == Fp32Math::tf32 ? 0x1p-10 : 0x1p-20;
  // Tensor cores truncate into their fp32 accumulator: up to an ulp per addition, not half.
  m.sum_u = cuda ? 0x1p-23 : 0x1p-24;
  // depth_tap's 2D convs may be either Winograd; F(4x4) where the options allow it.
  const bool f4x3_allowed = dtype != DType::f32 || fp32_math == Fp32Math::tf32;
  // (F(2x2)'s tiles, aligned at 0 as F(4x4)'s, lie inside them.)
  if (algorithm == "winograd_f4x3" || (algorithm == "depth_tap" && f4x3_allowed)) {
    m.sum_u *= kWinogradF4x3Growth;
    m.tile = 4;
  } else if (algorithm == "winograd_f2x3" || algorithm == "depth_tap") {
    m.sum_u *= kWinogradF2x3Growth;
    m.tile = 2;
  } else if (algorithm == "reference")
    m.sum_u = 0x1p-52;  // double accumulation
  return m;
}

std::vector<double> magnitudes(const Problem& p, const HostTensor& x, const HostTensor& w,
                               const std::vector<const HostTensor*>& added) {
  HostTensor ax(p.dtype, x.shape()), aw(p.dtype, w.shape()), s(p.dtype, p.output_shape());
  for (int64_t i = 0; i < ax.numel(); ++i) ax.set(i, std::abs(x.get(i)));
  for (int64_t i = 0; i < aw.numel(); ++i) aw.set(i, std::abs(w.get(i)));
  conv_reference(ax.view(), aw.view(), s.view(), p.params());
  std::vector<double> out(static_cast<size_t>(s.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = s.get(static_cast<int64_t>(i));
    for (const HostTensor* t : added) out[i] += std::abs(t->get(static_cast<int64_t>(i)));
  }
  return out;
}

std::vector<double> error_bounds(const Problem& p, const ErrorModel& m,
                                 const std::vector<double>& ref, const std::vector<double>& s,
                                 int added_terms) {
  const double terms = static_cast<double>(p.k[0] * p.k[1] * p.k[2] * p.cg() + added_terms);
  // (1 + 2 output_u): S was rounded to the dtype, and the rounding of got and ref is relative to
  // the values computed, not to ref.
  const double slack = 1 + 2 * m.output_u, s_scale = (m.product_u + terms * m.sum_u) * slack;
  // Outputs in row-major [N, OD, OH, OW, O] order; tiles of tile x tile positions in OH, OW.
  const int64_t ow = p.out[2], oh = p.out[1], tw = (ow + m.tile - 1) / m.tile;
  const int64_t th = (oh + m.tile - 1) / m.tile;
  auto tile_of = [&](size_t i) {
    const int64_t o = static_cast<int64_t>(i) % p.o, pixel = static_cast<int64_t>(i) / p.o;
    const int64_t x = pixel % ow, y = pixel / ow % oh, frame = pixel / (ow * oh);
    return ((frame * th + y / m.tile) * tw + x / m.tile) * p.o + o;
  };
  std::vector<double> tile_s(static_cast<size_t>(p.n * p.out[0] * th * tw * p.o), 0.0);
  for (size_t i = 0; i < s.size(); ++i) tile_s[tile_of(i)] = std::max(tile_s[tile_of(i)], s[i]);
  std::vector<double> bound(ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    bound[i] =
        2 * (m.output_u * std::abs(ref[i]) + m.output_tiny) * slack + s_scale * tile_s[tile_of(i)];
  return bound;
}

ErrorStats check_algorithm(const Problem& p, const std::string& algorithm, std::mt19937_64& rng,
                           const CheckOptions& opts) {
  auto pad = [&](size_t rank) {
    std::vector<int64_t> v(rank, 0);
    if (opts.strided)
      for (size_t i = 0; i + 1 < rank; ++i) v[i] = 1 + static_cast<int64_t>(i % 2);
    return v;
  };
  const auto xs = p.input_shape(), ws = p.weight_shape(), ys = p.output_shape();
  HostTensor x(p.dtype, xs, pad(xs.size())), w(p.dtype, ws, pad(ws.size()));
  HostTensor y(p.dtype, ys, pad(ys.size())), ref(p.dtype, ys), initial(p.dtype, ys);
  x.fill_uniform(rng);
  w.fill_uniform(rng);
  if (opts.accumulate) {
    initial.fill_uniform(rng);
    ref.copy_from(initial);
    y.copy_from(initial);
  } else {
    y.fill_nan();
  }
  HostTensor bias(p.dtype, {p.o});
  Epilogue epilogue;
  if (opts.bias) {  // drawn only when asked, so that checks without a bias keep their data
    bias.fill_uniform(rng);
    epilogue.bias = bias.view();
  }
  epilogue.activation = opts.activation;
  HostTensor residual(p.dtype, ys, pad(ys.size()));
  if (opts.residual) {
    residual.fill_uniform(rng);
    epilogue.residual = residual.view();
  }
  const ConvParams params = p.params();
  conv_reference(x.view(), w.view(), ref.view(), params, opts.accumulate, epilogue);
  Options o;
  o.algorithm = algorithm;
  o.accumulate = opts.accumulate;
  o.fp32_math = opts.fp32_math;
  o.epilogue = epilogue;
  if (opts.device.type == DeviceType::cpu) {
    conv(x.view(), w.view(), y.view(), params, o);
  } else {
    DeviceCopy dx(x, opts.device), dw(w, opts.device), dy(y, opts.device);
    std::optional<DeviceCopy> db, dr;
    if (opts.bias) o.epilogue.bias = db.emplace(bias, opts.device).view();
    if (opts.residual) o.epilogue.residual = dr.emplace(residual, opts.device).view();
    conv(dx.view(), dw.view(), dy.view(), params, o);
    dy.download();
  }
  std::vector<double> r(static_cast<size_t>(ref.numel()));
  for (size_t i = 0; i < r.size(); ++i) r[i] = ref.get(static_cast<int64_t>(i));
  std::vector<const HostTensor*> added;
  if (opts.accumulate) added.push_back(&initial);
  if (opts.residual) added.push_back(&residual);
  const auto s = magnitudes(p, x, w, added);
  const ErrorModel model = error_model(algorithm, p.dtype, opts.fp32_math);
  return compare_within_bound(y, r, error_bounds(p, model, r, s, static_cast<int>(added.size())));
}

}  // namespace vconv::testing

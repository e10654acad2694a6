#include "cpu/conv_reference.h"

#include <cmath>
#include <vector>

#include "core/float16.h"
#include "core/index_map.h"
#include "core/validate.h"
#include "cpu/cost_model.h"
#include "cpu/frame_cache.h"
#include "cpu/prologue_reference.h"

namespace vconv::cpu {
namespace {

template <typename T>
void reference(const ConvArgs& a) {
  const Problem& p = a.problem;
  // Under a prologue the conv reads the transformed input, written here once (the reference's
  // simplicity, not a promise of the fast paths); padding then repeats its values.
  std::vector<T> transformed;
  View5 input = a.input;
  if (!a.options.prologue.empty()) {
    transformed.resize(static_cast<size_t>(p.n * p.in[0] * p.in[1] * p.in[2] * p.c));
    prologue_reference(a.options.prologue, a.input, p.dtype, transformed.data());
    const int64_t w = p.c, h = p.in[2] * w, d = p.in[1] * h;
    input = View5{transformed.data(), a.input.shape, {p.in[0] * d, d, h, w, 1}};
  }
  const T* x = static_cast<const T*>(input.data);
  const T* w = static_cast<const T*>(a.weight.data);
  T* y = static_cast<T*>(a.output.data);
  DimMap dim[3];
  for (int i = 0; i < 3; ++i) dim[i] = dim_map(p, i);
  const DepthToSpace to_space = depth_to_space_of(p);
  const int64_t rows = p.n * p.out[0] * p.out[1];
  const Epilogue& epilogue = a.options.epilogue;
  const T* bias = static_cast<const T*>(epilogue.bias.data);
  const T* residual = static_cast<const T*>(epilogue.residual.data);
  const View5 residual_view = residual ? checked_view5(epilogue.residual) : View5{};
  // A streaming call reads the frames before its input from the cache (validation made the
  // problem causal: they are the last of the time padding, the rest zeros).
  const FrameCache& cache = a.options.frame_cache;
  const int64_t cached = cached_frames(cache);
  const T* previous = static_cast<const T*>(cache.previous.data);
  const View5 previous_view = cached > 0 ? checked_view5(cache.previous) : View5{};

#pragma omp parallel for schedule(dynamic)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / (p.out[0] * p.out[1]);
    const int64_t od = row / p.out[1] % p.out[0];
    const int64_t oh = row % p.out[1];
    for (int64_t ow = 0; ow < p.out[2]; ++ow) {
      for (int64_t o = 0; o < p.o; ++o) {
        const int64_t g = o / p.og();
        double acc = 0;
        for (int64_t kd = 0; kd < p.k[0]; ++kd) {
          const FrameSource frame = streamed_source_frame(dim[0], cached, od, kd);
          if (frame.index < 0) continue;
          for (int64_t kh = 0; kh < p.k[1]; ++kh) {
            const int64_t ih = source_index(dim[1], oh, kh);
            if (ih < 0) continue;
            for (int64_t kw = 0; kw < p.k[2]; ++kw) {
              const int64_t iw = source_index(dim[2], ow, kw);
              if (iw < 0) continue;
              // Under flip the weight is read mirrored in every spatial dimension.
              const int64_t wd = p.flip ? p.k[0] - 1 - kd : kd;
              const int64_t wh = p.flip ? p.k[1] - 1 - kh : kh;
              const int64_t ww = p.flip ? p.k[2] - 1 - kw : kw;
              const T* xs = frame.from_cache ? previous + previous_view.offset(n, frame.index, ih,
                                                                               iw, g * p.cg())
                                             : x + input.offset(n, frame.index, ih, iw, g * p.cg());
              const T* ws = w + a.weight.offset(o, wd, wh, ww, 0);
              const int64_t x_step = frame.from_cache ? previous_view.strides[4] : input.strides[4];
              for (int64_t ci = 0; ci < p.cg(); ++ci)
                acc += static_cast<double>(to_float(xs[ci * x_step])) *
                       static_cast<double>(to_float(ws[ci * a.weight.strides[4]]));
            }
          }
        }
        // The epilogue in double: act(conv + bias[o]) + residual at the stored position, then
        // stored or accumulated there.
        const StoredIndex at = stored_index(to_space, od, oh, ow, o);
        if (bias) acc += static_cast<double>(to_float(bias[o]));
        if (epilogue.activation == Activation::silu) acc = acc / (1.0 + std::exp(-acc));
        if (residual)
          acc += static_cast<double>(to_float(
              residual[residual_view.offset(n, at.pos[0], at.pos[1], at.pos[2], at.channel)]));
        T* ys = y + a.output.offset(n, at.pos[0], at.pos[1], at.pos[2], at.channel);
        if (a.options.accumulate) acc += static_cast<double>(to_float(*ys));
        *ys = from_float<T>(static_cast<float>(acc));
      }
    }
  }
  if (cache.next.data) write_next_frames(a, input, dim[0], cached);
}

}  // namespace

std::string ReferenceAlgorithm::why_not(const Problem&, Device device) const {
  if (device.type != DeviceType::cpu) return "runs on the CPU only";
  return {};
}

double ReferenceAlgorithm::estimate_ms(const Problem& problem, Device, const Options&) const {
  return problem.flops() / (cost::kReferenceGflops * 1e6);
}

void ReferenceAlgorithm::run(const ConvArgs& args) const {
  switch (args.problem.dtype) {
    case DType::f32:
      return reference<float>(args);
    case DType::f16:
      return reference<Half>(args);
    case DType::bf16:
      return reference<BFloat16>(args);
  }
}

}  // namespace vconv::cpu

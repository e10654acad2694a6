#include "cpu/conv_depth_tap.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/index_map.h"
#include "core/row_grid.h"
#include "core/validate.h"
#include "cpu/cost_model.h"
#include "cpu/epilogue.h"
#include "cpu/frame_cache.h"

namespace vconv::cpu {
namespace {

// A run of output frames [od0, od0 + len) of one batch index whose frames for tap kd are src0,
// src0 + stride, ... of one tensor: the input, or a streaming call's cached frames
// (Options::frame_cache.previous) when from_cache. One 2D conv over a strided batch of frames.
// A tap reads frames of two tensors only in a streaming call, and there each run lies within one
// of them, so a run is still one strided view: the cache needs no per-frame pointer table and no
// copy of cached and input frames side by side.
struct FrameRun {
  int64_t n, od0, len, src0;
  bool from_cache;
};

// The runs of tap kd, each frame chosen by streamed_source_frame() (index_map.h) from the
// `cached` frames before the input (0 without a cache: the plain index map).
std::vector<FrameRun> frame_runs(const Problem& p, int64_t kd, int64_t cached) {
  const DimMap depth = dim_map(p, 0);
  std::vector<FrameRun> runs;
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t od = 0; od < p.out[0]; ++od) {
      const FrameSource src = streamed_source_frame(depth, cached, od, kd);
      if (src.index < 0) continue;  // this tap reads zero padding for this frame
      FrameRun* last = runs.empty() ? nullptr : &runs.back();
      if (last && last->n == n && last->from_cache == src.from_cache &&
          last->od0 + last->len == od && last->src0 + last->len * p.stride[0] == src.index) {
        ++last->len;
      } else {
        runs.push_back({n, od, 1, src.index, src.from_cache});
      }
    }
  return runs;
}

// The frames before the input that a call's taps read: a streaming call's cache, else none. The
// plan is shared by every chunk (the plan cache knows only that a cache is present), so estimates
// assume the steady state, a full cache of F = pad_lo[0] frames (the causal problem validated).
int64_t planned_cached_frames(const Problem& p, const Options& options) {
  return options.frame_cache.empty() ? 0 : p.pad_lo[0];
}

// The options of the taps' 2D convs: chosen by the planner, accumulating, with neither the
// epilogue (applied to the sum over every tap) nor the frame cache (read here through the runs).
Options tap_options(const Options& options) {
  Options o = options;
  o.algorithm.clear();
  o.accumulate = true;
  o.epilogue = {};
  o.frame_cache = {};
  return o;
}

// The 2D problem of one tap over `batch` frames.
Problem frame_problem(const Problem& p, int64_t batch) {
  ConvParams q;
  for (int i = 1; i < 3; ++i) {
    q.stride.push_back(p.stride[i]);
    q.padding_lo.push_back(p.pad_lo[i]);
    q.padding_hi.push_back(p.pad_hi[i]);
    q.kernel_dilation.push_back(p.kdil[i]);
    q.input_dilation.push_back(p.idil[i]);
    q.pad_mode.push_back(p.mode[i]);
  }
  q.groups = p.groups;
  q.flip = p.flip;
  return make_problem({batch, p.in[1], p.in[2], p.c}, {p.o, p.k[1], p.k[2], p.cg()}, q, p.dtype);
}

// Whether the taps sum into an fp32 buffer of the output's size rather than into the output: for
// a 16-bit output, and for any output under an epilogue (which applies to the whole sum only).
bool needs_own_accumulator(DType output_dtype, const Options& options) {
  return output_dtype != DType::f32 || !options.epilogue.empty();
}

}  // namespace

std::string DepthTapAlgorithm::why_not(const Problem& p, Device device) const {
  if (device.type != DeviceType::cpu) return "runs on the CPU only";
  if (p.dims != 3) return "needs a 3D problem";
  if (p.idil[0] != 1) return "needs depth input dilation 1 (cpu_gemm splits it by stride phase)";
  return {};
}

std::string DepthTapAlgorithm::why_not_options(const Problem& p, const Options& options) const {
  if (!needs_own_accumulator(p.dtype, options)) return {};  // the output itself is the accumulator
  const int64_t bytes = p.n * p.out[0] * p.out[1] * p.out[2] * p.o * 4;  // <= 2^48: kMaxTensorBytes
  if (bytes <= options.workspace_bytes) return {};
  return "its fp32 accumulator (for a " + std::string(dtype_name(p.dtype)) + " output" +
         (options.epilogue.empty() ? "" : ", under an epilogue") + ") needs " +
         std::to_string(bytes >> 20) + " MiB, more than options.workspace_bytes = " +
         std::to_string(options.workspace_bytes >> 20) + " MiB";
}

double DepthTapAlgorithm::estimate_ms(const Problem& p, Device device,
                                      const Options& options) const {
  const Options sub_options = tap_options(options);
  const int64_t cached = planned_cached_frames(p, options);
  double ms = 0;
  for (int64_t kd = 0; kd < p.k[0]; ++kd) {
    int64_t frames = 0;
    const auto runs = frame_runs(p, kd, cached);
    for (const FrameRun& r : runs) frames += r.len;
    if (frames == 0) continue;
    const Problem sub = frame_problem(p, frames);
    ms += choose_algorithm(sub, device, sub_options, true).estimate_ms(sub, device, sub_options) +
          cost::kCallOverheadMs * static_cast<double>(runs.size());
  }
  // Zeroing the fp32 accumulator, and rounding it once when the output is not fp32.
  const double out_bytes = static_cast<double>(p.n * p.out[0] * p.out[1] * p.out[2] * p.o) * 4.0;
  return ms + cost::stream_ms(out_bytes * (p.dtype == DType::f32 ? 1.0 : 3.0));
}

void DepthTapAlgorithm::run(const ConvArgs& a) const {
  const Problem& p = a.problem;
  // The fp32 accumulator: the output itself when it is fp32 and no epilogue applies, else a
  // contiguous buffer, started from zero, that the final store rounds once (accumulating into the
  // output when asked). The epilogue applies to the sum over every tap, so only at that store.
  const bool own_buffer = needs_own_accumulator(a.output_dtype, a.options);
  std::vector<float> buffer(
      own_buffer ? static_cast<size_t>(p.n * p.out[0] * p.out[1] * p.out[2] * p.o) : 0);
  const View5 acc = own_buffer ? contiguous_output(p, buffer.data()) : a.output;
  const RowGrid grid = RowGrid::whole(p);
  // Start from zero (or from the output itself under accumulate); every tap then accumulates with
  // beta = 1.
  const int64_t pixels = p.n * p.out[0] * p.out[1] * p.out[2];
  if (own_buffer || !a.options.accumulate) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < pixels; ++r) {
      const auto [n, od, oh, ow] = grid.coord(r);
      float* dst = static_cast<float*>(acc.data) + acc.offset(n, od, oh, ow, 0);
      std::fill(dst, dst + p.o, 0.0f);
    }
  }

  const Options sub_options = tap_options(a.options);
  const FrameCache& cache = a.options.frame_cache;
  const int64_t cached = cached_frames(cache);
  const View5 previous = cached > 0 ? checked_view5(cache.previous) : View5{};
  for (int64_t kd = 0; kd < p.k[0]; ++kd) {
    const int64_t wd = p.flip ? p.k[0] - 1 - kd : kd;  // the depth axis is mirrored too
    for (const FrameRun& r : frame_runs(p, kd, cached)) {
      const Problem sub = frame_problem(p, r.len);
      const Algorithm& algo = choose_algorithm(sub, a.device, sub_options, true);
      // Frame-shifted views: frames of the run are one batch dimension at stride * frame stride,
      // in the input or in the cache.
      const View5& source = r.from_cache ? previous : a.input;
      View5 in = source, w = a.weight, out = acc;
      in.data = byte_ptr(source.data, source.offset(r.n, r.src0, 0, 0, 0), p.dtype);
      in.shape = {r.len, 1, p.in[1], p.in[2], p.c};
      in.strides = {p.stride[0] * source.strides[1], 0, source.strides[2], source.strides[3], 1};
      w.data = byte_ptr(a.weight.data, a.weight.offset(0, wd, 0, 0, 0), p.dtype);
      w.shape[1] = 1;
      w.strides[1] = 0;
      out.data = static_cast<float*>(acc.data) + acc.offset(r.n, r.od0, 0, 0, 0);
      out.shape = {r.len, 1, p.out[1], p.out[2], p.o};
      out.strides = {acc.strides[1], 0, acc.strides[2], acc.strides[3], 1};
      algo.run(ConvArgs{sub, in, w, out, a.device, sub_options, DType::f32});
    }
  }

  if (own_buffer) {
    const LoadedEpilogue epilogue(a.options.epilogue);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < pixels; ++r) {
      const auto [n, od, oh, ow] = grid.coord(r);
      store_f32(a.output_dtype, buffer.data() + r * p.o, p.o,
                byte_ptr(a.output.data, a.output.offset(n, od, oh, ow, 0), a.output_dtype),
                a.options.accumulate, epilogue.at(n, od, oh, ow, 0));
    }
  }
  if (cache.next.data) write_next_frames(a, a.input, dim_map(p, 0), cached);
}

}  // namespace vconv::cpu

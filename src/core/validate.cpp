#include "core/validate.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "core/checked.h"
#include "core/shape_string.h"
#include "vconv/error.h"

namespace vconv {
namespace {

// [begin, end) bytes of a view with no empty dimension.
std::pair<const char*, const char*> byte_range(const View5& v, DType dtype) {
  int64_t extent = 1;
  for (int i = 0; i < 5; ++i) extent += (v.shape[i] - 1) * v.strides[i];
  const char* begin = static_cast<const char*>(v.data);
  return {begin, begin + extent * dtype_size(dtype)};
}

}  // namespace

bool overlap(const View5& a, const View5& b, DType dtype) {
  for (const View5* v : {&a, &b})
    for (int64_t size : v->shape)
      if (size == 0) return false;
  const auto ra = byte_range(a, dtype), rb = byte_range(b, dtype);
  return ra.first < rb.second && rb.first < ra.second;
}

namespace {

// Checks the strides of one view; returns them (contiguous ones when none were given). Only the
// conv's input and weight take any channel stride (conv() stages them where an algorithm needs
// channels-last, core/staging.h); the tensors written, and the options' tensors, are channels-last.
std::vector<int64_t> checked_strides(const TensorView& t, const char* name, bool writable,
                                     bool any_channel_stride = false) {
  const std::string arg = name;
  if (!t.strides.empty() && t.strides.size() != t.shape.size())
    throw Error(arg + ": " + std::to_string(t.strides.size()) + " strides for a rank " +
                std::to_string(t.shape.size()) + " shape, expected one stride per dimension");
  std::vector<int64_t> s = t.strides.empty() ? TensorView::contiguous_strides(t.shape) : t.strides;
  const int r = t.rank();
  if (!any_channel_stride && t.shape[r - 1] > 1 && s[r - 1] != 1)
    throw Error(arg + ": unsupported strides " + shape_str(s) +
                ": the innermost (channel) stride is " + std::to_string(s[r - 1]) +
                ", expected 1 (channels-last; only the input and the weight take any strides)");
  for (int i = 0; i < r; ++i)
    if (s[i] < 0 || (s[i] == 0 && t.shape[i] > 1 && writable))
      throw Error(arg + ": unsupported strides " + shape_str(s) + ": stride[" + std::to_string(i) +
                  "] = " + std::to_string(s[i]) + ", expected " + (writable ? "> 0" : ">= 0"));
  // The largest offset, in bytes, must fit in int64.
  int64_t extent = 1;
  for (int i = 0; i < r; ++i)
    extent = checked_add(extent, checked_mul(t.shape[i] - 1, s[i], arg), arg);
  checked_mul(extent, dtype_size(t.dtype), arg + " byte size");
  if (t.data == nullptr && t.numel() > 0)
    throw Error(arg + ": data is null for a tensor of shape " + shape_str(t.shape));
  if (writable) {
    // No two elements may share memory: sorted by stride, each stride must step over the
    // whole extent of the dimensions inside it.
    std::vector<int> order(r);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return s[a] < s[b]; });
    int64_t span = 1;
    for (int i : order) {
      if (t.shape[i] == 1) continue;
      if (s[i] < span)
        throw Error(arg + ": strides " + shape_str(s) + " make elements of shape " +
                    shape_str(t.shape) + " overlap; the output must not alias itself");
      span = s[i] * t.shape[i];
    }
  }
  return s;
}

View5 to_view5(const TensorView& t, const std::vector<int64_t>& strides) {
  View5 v{t.data, {1, 1, 1, 1, 1}, {0, 0, 0, 0, 1}};
  const int r = t.rank();
  const int pad = 5 - r;  // unit spatial dims go right after the leading (N or O) dim
  v.shape[0] = t.shape[0];
  v.strides[0] = strides[0];
  for (int i = 1; i < r; ++i) {
    v.shape[pad + i] = t.shape[i];
    v.strides[pad + i] = strides[i];
  }
  return v;
}

// A per-channel vector of the options (the epilogue's bias, the prologue's scale and shift), when
// there is one: [channels], contiguous, the input's dtype and device, apart from the output (stores
// write the output while they read it). `what` says what its channels are.
void check_channel_vector(const TensorView& t, const std::string& arg, int64_t channels,
                          const char* what, const TensorView& input, const View5& output) {
  if (t.data == nullptr) return;
  const std::vector<int64_t> expected{channels};
  if (t.shape != expected)
    throw Error(arg + ": shape " + shape_str(t.shape) + ", expected " + shape_str(expected) + " (" +
                what + ")");
  if (!t.strides.empty() && t.strides != std::vector<int64_t>{1} && channels > 1)
    throw Error(arg + ": strides " + shape_str(t.strides) + ", expected [1] (contiguous)");
  if (t.dtype != input.dtype)
    throw Error(arg + ": dtype mismatch: " + dtype_name(t.dtype) + ", input is " +
                dtype_name(input.dtype) + "; expected the input's dtype");
  if (t.device != input.device)
    throw Error(arg + ": device mismatch: on " + device_name(t.device) + ", input on " +
                device_name(input.device) + "; expected the input's device");
  const View5 v{t.data, {channels, 1, 1, 1, 1}, {1, 0, 0, 0, 1}};
  if (overlap(v, output, input.dtype))
    throw Error(arg + ": overlaps the output in memory; expected a separate buffer");
}

// The input's prologue (conv.h's Prologue): the norm's parameters, and its scale and shift.
void check_prologue(const Prologue& prologue, const TensorView& input, const CheckedArgs& a) {
  const std::string arg = "options.prologue";
  const Norm norm = prologue.norm;
  const int64_t c = a.problem.c;
  if (norm == Norm::group_norm) {
    if (prologue.groups < 1 || c % prologue.groups != 0)
      throw Error(arg + ".groups: " + std::to_string(prologue.groups) +
                  " groups for C = " + std::to_string(c) +
                  " input channels; expected a divisor of C (Norm::group_norm)");
  } else if (prologue.groups != 0) {
    throw Error(arg + ".groups: " + std::to_string(prologue.groups) +
                "; expected 0: only Norm::group_norm takes groups");
  }
  if ((norm == Norm::group_norm || norm == Norm::rms_norm) &&
      !(prologue.eps > 0 && std::isfinite(prologue.eps)))
    throw Error(arg + ".eps: " + std::to_string(prologue.eps) + "; expected a finite eps > 0");
  for (const TensorView* t : {&prologue.scale, &prologue.shift}) {
    const std::string name = arg + (t == &prologue.scale ? ".scale" : ".shift");
    if (t->data && norm == Norm::none)
      throw Error(name + ": given with Norm::none; expected a norm that applies it " +
                  "(Norm::scale_shift for a plain per-channel scale and shift)");
    check_channel_vector(*t, name, c, "one value per input channel", input, a.output);
  }
}

// The epilogue's residual: a tensor of the output's shape beside it.
void check_residual(const TensorView& residual, const TensorView& input, const TensorView& output,
                    const CheckedArgs& a) {
  if (residual.data == nullptr) return;
  const std::string arg = "options.epilogue.residual";
  if (residual.shape != output.shape)
    throw Error(arg + ": shape " + shape_str(residual.shape) + ", expected the output's " +
                shape_str(output.shape));
  if (residual.dtype != input.dtype)
    throw Error(arg + ": dtype mismatch: " + dtype_name(residual.dtype) + ", input is " +
                dtype_name(input.dtype) + "; expected the input's dtype");
  if (residual.device != input.device)
    throw Error(arg + ": device mismatch: on " + device_name(residual.device) + ", input on " +
                device_name(input.device) + "; expected the input's device");
  checked_strides(residual, arg.c_str(), false);
  if (overlap(checked_view5(residual), a.output, input.dtype))
    throw Error(arg +
                ": overlaps the output in memory; expected a separate buffer (out += conv is "
                "options.accumulate)");
}

// What a frame cache cannot be combined with: upsampling in time (the cache holds input frames,
// the conv reads frames of the upsampled signal).
void check_streamed_fusions(const Options& options, const CheckedArgs& a) {
  if (options.frame_cache.empty() || a.problem.up[0] == 1) return;
  throw Error("options.frame_cache: params.upsample[0] = " + std::to_string(a.problem.up[0]) +
              " upsamples time; expected 1 with a frame cache (upsample in time after the "
              "streamed conv, or stream the conv that reads the upsampled frames)");
}

// A streaming call's cache (conv.h's FrameCache): the causal problem it continues, and tensors of
// [N, F, H, W, C] of the input, where F is the frames the taps reach back.
void check_frame_cache(const FrameCache& cache, const TensorView& input, const CheckedArgs& a) {
  if (cache.empty()) return;
  const Problem& p = a.problem;
  const std::string arg = "options.frame_cache";
  if (p.dims != 3)
    throw Error(arg + ": a " + std::to_string(p.dims) +
                "D problem; expected a 3D one (the cache holds frames of its first dimension)");
  if (p.stride[0] != 1 || p.idil[0] != 1)
    throw Error(arg + ": time stride " + std::to_string(p.stride[0]) + " and input dilation " +
                std::to_string(p.idil[0]) +
                "; expected 1 and 1 (a streaming conv reads every frame)");
  const int64_t frames = (p.k[0] - 1) * p.kdil[0];
  if (frames < 1)
    throw Error(arg + ": kernel depth 1 reads no earlier frame; expected a depth of 2 or more");
  if (p.pad_lo[0] != frames || p.pad_hi[0] != 0)
    throw Error(arg + ": time padding " + std::to_string(p.pad_lo[0]) + ":" +
                std::to_string(p.pad_hi[0]) + "; expected the causal " + std::to_string(frames) +
                ":0 ((KD - 1) * kernel_dilation[0] frames before, none after)");
  for (const TensorView* t : {&cache.previous, &cache.next}) {
    if (t->data == nullptr) continue;
    const bool is_previous = t == &cache.previous;
    const std::string name = arg + (is_previous ? ".previous" : ".next");
    // `previous` may hold fewer frames (a sequence shorter than F so far, as Wan's decoder caches
    // it) when the frames before it are zero padding; `next` always receives F.
    std::vector<int64_t> expected{p.n, frames, p.in[1], p.in[2], p.c};
    if (is_previous && t->shape.size() == 5 && t->shape[1] >= 1 && t->shape[1] < frames &&
        p.mode[0] == PadMode::zeros)
      expected[1] = t->shape[1];
    if (t->shape != expected)
      throw Error(
          name + ": shape " + shape_str(t->shape) + ", expected " + shape_str(expected) +
          " ([N, (KD - 1) * kernel_dilation[0], H, W, C] of the input " + shape_str(input.shape) +
          (is_previous ? "; fewer frames, at least 1, under zero time padding only" : "") + ")");
    if (t->dtype != input.dtype)
      throw Error(name + ": dtype mismatch: " + dtype_name(t->dtype) + ", input is " +
                  dtype_name(input.dtype) + "; expected the input's dtype");
    if (t->device != input.device)
      throw Error(name + ": device mismatch: on " + device_name(t->device) + ", input on " +
                  device_name(input.device) + "; expected the input's device");
    checked_strides(*t, name.c_str(), t == &cache.next);
  }
  // The output is written while `previous` is read; `next` is written after both are read.
  const DType dtype = input.dtype;
  if (cache.previous.data && overlap(checked_view5(cache.previous), a.output, dtype))
    throw Error(arg + ".previous: overlaps the output in memory; expected a separate buffer");
  if (cache.next.data) {
    const View5 next = checked_view5(cache.next);
    if (overlap(next, a.output, dtype))
      throw Error(arg + ".next: overlaps the output in memory; expected a separate buffer");
    if (overlap(next, a.input, dtype))
      throw Error(arg + ".next: overlaps the input in memory; expected a separate buffer");
    if (cache.previous.data && overlap(next, checked_view5(cache.previous), dtype))
      throw Error(arg +
                  ".next: overlaps options.frame_cache.previous in memory; expected a separate "
                  "buffer (swap two buffers between calls)");
  }
}

}  // namespace

int64_t cached_frames(const FrameCache& cache) {
  return cache.previous.data ? cache.previous.shape[1] : 0;
}

View5 checked_operand(const TensorView& t, const char* name) {
  return to_view5(t, checked_strides(t, name, false, true));
}

View5 checked_view5(const TensorView& t) {
  return to_view5(t, t.strides.empty() ? TensorView::contiguous_strides(t.shape) : t.strides);
}

CheckedArgs check_conv_args(const TensorView& input, const TensorView& weight,
                            const TensorView& output, const ConvParams& params,
                            const Options& options) {
  for (auto* t : {&input, &weight, &output}) {
    const char* name = t == &input ? "input" : t == &weight ? "weight" : "output";
    for (int i = 0; i < t->rank(); ++i)
      if (t->shape[i] < 0)
        throw Error(std::string(name) + ": negative size " + std::to_string(t->shape[i]) +
                    " at dimension " + std::to_string(i) + " of shape " + shape_str(t->shape));
  }
  if (weight.dtype != input.dtype)
    throw Error(std::string("weight: dtype mismatch: weight is ") + dtype_name(weight.dtype) +
                ", input is " + dtype_name(input.dtype) + "; expected the same dtype");
  if (output.dtype != input.dtype)
    throw Error(std::string("output: dtype mismatch: output is ") + dtype_name(output.dtype) +
                ", input is " + dtype_name(input.dtype) + "; expected the same dtype");
  if (weight.device != input.device || output.device != input.device)
    throw Error("device mismatch: input on " + device_name(input.device) + ", weight on " +
                device_name(weight.device) + ", output on " + device_name(output.device) +
                "; expected all on one device");
  CheckedArgs a;
  a.problem = make_problem(input.shape, weight.shape, params, input.dtype);
  if (output.shape != a.problem.output_shape())
    throw Error("output: shape " + shape_str(output.shape) + ", expected " +
                shape_str(a.problem.output_shape()) + " for input " + shape_str(input.shape) +
                " and weight " + shape_str(weight.shape));
  a.input = checked_operand(input, "input");
  a.weight = checked_operand(weight, "weight");
  a.output = to_view5(output, checked_strides(output, "output", true));
  check_channel_vector(options.epilogue.bias, "options.epilogue.bias", a.problem.o,
                       "one value per output channel", input, a.output);
  check_residual(options.epilogue.residual, input, output, a);
  check_prologue(options.prologue, input, a);
  check_frame_cache(options.frame_cache, input, a);
  check_streamed_fusions(options, a);
  return a;
}

}  // namespace vconv

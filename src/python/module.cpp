// The Python extension vconv._vconv: conv_general into a given output (PreparedConv), planning and
// shapes, over any DLPack-capable array (numpy, torch, cupy, ...) taken as it lies, without a
// copy. Argument forms (ints, sequences, (lo, hi) pairs) and output allocation live in
// python/vconv/. vconv::Error (std::invalid_argument) arrives in Python as ValueError with the same
// message; an array vconv cannot take at all (its dtype or device) raises TypeError.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vconv/vconv.h"

namespace nb = nanobind;

namespace {

using Array = nb::ndarray<>;
using Ints = std::vector<int64_t>;

vconv::DType dtype_of(const Array& a, const char* what) {
  const nb::dlpack::dtype t = a.dtype();
  if (t.lanes == 1) {
    if (t.code == uint8_t(nb::dlpack::dtype_code::Float) && t.bits == 32) return vconv::DType::f32;
    if (t.code == uint8_t(nb::dlpack::dtype_code::Float) && t.bits == 16) return vconv::DType::f16;
    if (t.code == uint8_t(nb::dlpack::dtype_code::Bfloat) && t.bits == 16)
      return vconv::DType::bf16;
  }
  throw nb::type_error((std::string(what) + ": unsupported dtype (DLPack code " +
                        std::to_string(t.code) + ", " + std::to_string(t.bits) +
                        " bits); expected float32, float16 or bfloat16")
                           .c_str());
}

vconv::Device device_of(const Array& a, const char* what) {
  if (a.device_type() == nb::device::cpu::value) return vconv::Device::cpu();
  if (a.device_type() == nb::device::cuda::value) return vconv::Device::cuda(a.device_id());
  throw nb::type_error((std::string(what) + ": unsupported device (DLPack device type " +
                        std::to_string(a.device_type()) + "); expected the CPU or a CUDA device")
                           .c_str());
}

// The array as vconv sees it. channels_first: the array is PyTorch's (N, C, spatial...) or
// (O, C / groups, kernel...), seen as vconv's channels-last (N, spatial..., C) view of the same
// memory.
vconv::TensorView view_of(const Array& a, const char* what, bool channels_first = false) {
  vconv::TensorView v;
  v.data = a.data();
  v.dtype = dtype_of(a, what);
  v.device = device_of(a, what);
  const size_t rank = a.ndim();
  v.shape.reserve(rank);
  v.strides.reserve(rank);
  for (size_t i = 0; i < rank; ++i) {
    const size_t axis = !channels_first || i == 0 ? i : i + 1 < rank ? i + 1 : 1;
    v.shape.push_back(static_cast<int64_t>(a.shape(axis)));
    v.strides.push_back(static_cast<int64_t>(a.stride(axis)));
  }
  return v;
}

vconv::PadMode pad_mode_of(const std::string& s) {
  if (s == "zeros") return vconv::PadMode::zeros;
  if (s == "replicate") return vconv::PadMode::replicate;
  if (s == "reflect") return vconv::PadMode::reflect;
  throw vconv::Error("pad_mode: '" + s + "', expected zeros, replicate or reflect");
}

// conv_general's parameters; upsample and depth_to_space: one factor per spatial dimension.
vconv::ConvParams params_of(const Ints& stride, const Ints& lo, const Ints& hi, const Ints& kdil,
                            const Ints& idil, int64_t groups, bool flip,
                            const std::vector<std::string>& pad_mode, const Ints& upsample,
                            bool causal_upsample, const Ints& depth_to_space) {
  vconv::ConvParams p;
  p.stride = stride;
  p.padding_lo = lo;
  p.padding_hi = hi;
  p.kernel_dilation = kdil;
  p.input_dilation = idil;
  p.groups = groups;
  p.flip = flip;
  for (const auto& m : pad_mode) p.pad_mode.push_back(pad_mode_of(m));
  p.upsample = upsample;
  p.causal_upsample = causal_upsample;
  p.depth_to_space = depth_to_space;
  return p;
}

vconv::Activation activation_of(const std::string& s, const char* argument) {
  if (s == "none") return vconv::Activation::none;
  if (s == "silu") return vconv::Activation::silu;
  throw vconv::Error(std::string(argument) + ": '" + s + "', expected none or silu");
}

vconv::Norm norm_of(const std::string& s) {
  if (s == "none") return vconv::Norm::none;
  if (s == "group_norm") return vconv::Norm::group_norm;
  if (s == "rms_norm") return vconv::Norm::rms_norm;
  if (s == "scale_shift") return vconv::Norm::scale_shift;
  throw vconv::Error("prologue.norm: '" + s +
                     "', expected none, group_norm, rms_norm or scale_shift");
}

// Options::prologue without its tensors (scale and shift are per-call data).
vconv::Prologue prologue_of(const std::string& norm, int64_t groups, double eps,
                            const std::string& activation) {
  vconv::Prologue p;
  p.norm = norm_of(norm);
  p.groups = groups;
  p.eps = eps;
  p.activation = activation_of(activation, "prologue.activation");
  return p;
}

vconv::Options options_of(const std::string& algorithm, bool accumulate,
                          const std::string& fp32_math, uintptr_t stream,
                          const std::string& activation) {
  vconv::Options o;
  o.algorithm = algorithm;
  o.accumulate = accumulate;
  o.fp32_math = vconv::parse_fp32_math(fp32_math);
  o.stream = reinterpret_cast<void*>(stream);
  o.epilogue.activation = activation_of(activation, "activation");
  return o;
}

// A conv_general call whose parameters and options (the activation and the prologue's norm
// included) were converted once: Python keeps one per argument tuple, so that a call crosses into
// C++ once, with its arrays (the bias, residual and the prologue's scale and shift are per-call
// data, like them) and stream only.
class PreparedConv {
 public:
  PreparedConv(const Ints& stride, const Ints& lo, const Ints& hi, const Ints& kdil,
               const Ints& idil, int64_t groups, bool flip,
               const std::vector<std::string>& pad_mode, const Ints& upsample, bool causal_upsample,
               const Ints& depth_to_space, const std::string& algorithm, bool accumulate,
               const std::string& fp32_math, const std::string& activation,
               const std::string& prologue_norm, int64_t prologue_groups, double prologue_eps,
               const std::string& prologue_activation)
      : params_(params_of(stride, lo, hi, kdil, idil, groups, flip, pad_mode, upsample,
                          causal_upsample, depth_to_space)),
        options_(options_of(algorithm, accumulate, fp32_math, 0, activation)) {
    options_.prologue =
        prologue_of(prologue_norm, prologue_groups, prologue_eps, prologue_activation);
  }

  // out (+)= act(conv_general(input', weight) + bias) + residual on `stream`, input' the input
  // through the prologue; input, weight, the residual and the frame caches in PyTorch's layout
  // when channels_first (out is channels-last either way; the bias, scale and shift are vectors
  // in both). previous / next: Options::frame_cache, None for none.
  void operator()(const Array& input, const Array& weight, const Array& out, uintptr_t stream,
                  bool channels_first, const std::optional<Array>& bias,
                  const std::optional<Array>& previous, const std::optional<Array>& next,
                  const std::optional<Array>& residual, const std::optional<Array>& scale,
                  const std::optional<Array>& shift) const {
    const vconv::TensorView x = view_of(input, "input", channels_first),
                            w = view_of(weight, "weight", channels_first), y = view_of(out, "out");
    vconv::Options options = options_;
    options.stream = reinterpret_cast<void*>(stream);
    if (bias) options.epilogue.bias = view_of(*bias, "bias");
    // Named as C++'s validation names them, so that a bad tensor's error reads the same either way.
    if (residual)
      options.epilogue.residual = view_of(*residual, "options.epilogue.residual", channels_first);
    if (scale) options.prologue.scale = view_of(*scale, "options.prologue.scale");
    if (shift) options.prologue.shift = view_of(*shift, "options.prologue.shift");
    if (previous)
      options.frame_cache.previous =
          view_of(*previous, "options.frame_cache.previous", channels_first);
    if (next) options.frame_cache.next = view_of(*next, "options.frame_cache.next", channels_first);
    nb::gil_scoped_release release;
    vconv::conv(x, w, y, params_, options);
  }

 private:
  vconv::ConvParams params_;
  vconv::Options options_;
};

}  // namespace

NB_MODULE(_vconv, m) {
  m.doc() = "vconv: convolutions for video models (the compiled core; use the vconv package)";

  nb::class_<PreparedConv>(m, "PreparedConv",
                           "conv_general's parameters and options, converted once.")
      .def(nb::init<const Ints&, const Ints&, const Ints&, const Ints&, const Ints&, int64_t, bool,
                    const std::vector<std::string>&, const Ints&, bool, const Ints&,
                    const std::string&, bool, const std::string&, const std::string&,
                    const std::string&, int64_t, double, const std::string&>(),
           nb::arg("stride"), nb::arg("lo"), nb::arg("hi"), nb::arg("kernel_dilation"),
           nb::arg("input_dilation"), nb::arg("groups"), nb::arg("flip"), nb::arg("pad_mode"),
           nb::arg("upsample"), nb::arg("causal_upsample"), nb::arg("depth_to_space"),
           nb::arg("algorithm"), nb::arg("accumulate"), nb::arg("fp32_math"), nb::arg("activation"),
           nb::arg("prologue_norm"), nb::arg("prologue_groups"), nb::arg("prologue_eps"),
           nb::arg("prologue_activation"))
      .def("__call__", &PreparedConv::operator(), nb::arg("input"), nb::arg("weight"),
           nb::arg("out"), nb::arg("stream"), nb::arg("channels_first"), nb::arg("bias").none(),
           nb::arg("previous").none() = nb::none(), nb::arg("next").none() = nb::none(),
           nb::arg("residual").none() = nb::none(), nb::arg("scale").none() = nb::none(),
           nb::arg("shift").none() = nb::none(),
           "out (+)= act(conv_general(prologue(input), weight) + bias) + residual on `stream` (0: "
           "the default stream); bias None or [O]; previous / next: the streaming frame cache "
           "(Options::frame_cache), None or [N, F, H, W, C]; residual None or the output's shape "
           "(Options::epilogue.residual); scale / shift: the prologue's, None or [C].");

  m.def(
      "output_shape",
      [](const Ints& input_shape, const Ints& weight_shape, const std::string& dtype,
         const Ints& stride, const Ints& lo, const Ints& hi, const Ints& kdil, const Ints& idil,
         int64_t groups, bool flip, const std::vector<std::string>& pad_mode, const Ints& upsample,
         bool causal_upsample, const Ints& depth_to_space) {
        return vconv::conv_output_shape(
            input_shape, weight_shape,
            params_of(stride, lo, hi, kdil, idil, groups, flip, pad_mode, upsample, causal_upsample,
                      depth_to_space),
            vconv::parse_dtype(dtype));
      },
      "The output shape [N, O1..Od, O] of conv_general (raises ValueError when inconsistent, or "
      "when a tensor of that dtype would exceed vconv's size limit).");

  m.def(
      "plan",
      [](const Ints& input_shape, const Ints& weight_shape, const std::string& dtype,
         const std::string& device, int device_index, const Ints& stride, const Ints& lo,
         const Ints& hi, const Ints& kdil, const Ints& idil, int64_t groups, bool flip,
         const std::vector<std::string>& pad_mode, const Ints& upsample, bool causal_upsample,
         const Ints& depth_to_space, const std::string& algorithm, const std::string& fp32_math,
         bool frame_cache, bool residual, const std::string& prologue_norm, int64_t prologue_groups,
         double prologue_eps, const std::string& prologue_activation, const Ints& input_strides,
         const Ints& weight_strides) {
        if (device != "cpu" && device != "cuda")
          throw vconv::Error("device: '" + device + "', expected cpu or cuda");
        const vconv::ConvParams params =
            params_of(stride, lo, hi, kdil, idil, groups, flip, pad_mode, upsample, causal_upsample,
                      depth_to_space);
        const vconv::Problem p =
            vconv::make_problem(input_shape, weight_shape, params, vconv::parse_dtype(dtype));
        const vconv::Device d =
            device == "cpu" ? vconv::Device::cpu() : vconv::Device::cuda(device_index);
        vconv::Options options = options_of(algorithm, false, fp32_math, 0, "none");
        options.prologue =
            prologue_of(prologue_norm, prologue_groups, prologue_eps, prologue_activation);
        // Planning asks only whether a frame cache or a residual is present
        // (Algorithm::applies), never reads it: any non-null address stands for one.
        static char present;
        if (frame_cache) options.frame_cache.previous.data = &present;
        if (residual) options.epilogue.residual.data = &present;
        // Planning reads no tensor either: any non-null address stands for each, with the
        // strides that decide whether a staging copy is made (Plan::staging).
        const vconv::TensorView x(&present, p.dtype, input_shape, input_strides, d),
            w(&present, p.dtype, weight_shape, weight_strides, d);
        const vconv::Plan plan = vconv::plan_conv(x, w, params, options);
        nb::list candidates;
        for (const auto& c : plan.candidates)
          candidates.append(nb::make_tuple(c.name, c.valid, c.why_not, c.estimate_ms));
        return nb::make_tuple(plan.algorithm, plan.reason, candidates, vconv::to_string(p),
                              plan.to_string(), plan.staging);
      },
      "(algorithm, reason, [(name, valid, why_not, estimate_ms)], problem, text, staging); "
      "frame_cache / residual: plan a call with a frame cache (streaming) / a residual present; "
      "prologue_*: Options::prologue's norm, groups, eps and activation; input_strides and "
      "weight_strides: the arrays' strides in elements (empty: contiguous).");

  m.def(
      "conv_transpose_params",
      [](const Ints& kernel, const Ints& stride, const Ints& padding, const Ints& dilation,
         const Ints& output_padding, int64_t groups) {
        const vconv::ConvParams p =
            vconv::conv_transpose_params(kernel, stride, padding, dilation, output_padding, groups);
        return nb::make_tuple(p.padding_lo, p.padding_hi, p.kernel_dilation, p.input_dilation,
                              p.flip);
      },
      "(lo, hi, kernel_dilation, input_dilation, flip) of a transposed conv as MLX builds it.");

  m.def(
      "parse_problem",
      [](const std::string& line) {
        const vconv::Problem p = vconv::parse_problem(line);
        const size_t first = 3 - p.dims;  // the spatial fields live in the trailing dims slots
        auto spatial = [&](const std::array<int64_t, 3>& v) {
          return Ints(v.begin() + first, v.end());
        };
        std::vector<std::string> modes;
        for (size_t i = first; i < 3; ++i) modes.push_back(vconv::pad_mode_name(p.mode[i]));
        nb::dict d;
        d["dtype"] = vconv::dtype_name(p.dtype);
        d["input_shape"] = p.input_shape();
        d["weight_shape"] = p.weight_shape();
        d["stride"] = spatial(p.stride);
        d["lo"] = spatial(p.pad_lo);
        d["hi"] = spatial(p.pad_hi);
        d["kernel_dilation"] = spatial(p.kdil);
        d["input_dilation"] = spatial(p.idil);
        d["groups"] = p.groups;
        d["flip"] = p.flip;
        d["pad_mode"] = modes;
        d["flops"] = p.flops();
        d["text"] = vconv::to_string(p);
        return d;
      },
      "A problem in vconv's one-line notation, as a dict of conv_general's arguments.");

  m.def("algorithm_names", &vconv::algorithm_names);
  m.def("cuda_device_count", &vconv::cuda_device_count);
  m.def("built_with_cuda", &vconv::built_with_cuda);
}

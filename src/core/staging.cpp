#include "core/staging.h"

#include <cstring>

#include "core/device_runtime.h"
#include "cpu/prologue_reference.h"

namespace vconv {
namespace {

// A channel stride an algorithm that reads channels-last tensors cannot take: any but 1, when
// there is more than one channel.
bool strided_channels(const View5& v) {
  return v.shape[4] > 1 && v.strides[4] != 1;
}

std::string channel_stride_reason(const char* name, const View5& v) {
  return std::string("the ") + name + "'s channel stride is " + std::to_string(v.strides[4]) +
         ", not 1";
}

int64_t numel(const View5& v) {
  int64_t n = 1;
  for (int64_t s : v.shape) n *= s;
  return n;
}

// The contiguous strides of the view's shape.
View5 contiguous(const View5& v, void* data) {
  View5 c{data, v.shape, {0, 0, 0, 0, 1}};
  for (int i = 3; i >= 0; --i) c.strides[i] = c.strides[i + 1] * c.shape[i + 1];
  return c;
}

// A plain copy loop, element by element, into a new contiguous buffer.
std::shared_ptr<void> cpu_contiguous_copy(const View5& src, size_t element_bytes) {
  const int64_t count = numel(src);
  std::shared_ptr<void> buffer(::operator new(static_cast<size_t>(count) * element_bytes),
                               [](void* p) { ::operator delete(p); });
  const char* from = static_cast<const char*>(src.data);
  char* to = static_cast<char*>(buffer.get());
  const auto& s = src.shape;
  for (int64_t a = 0; a < s[0]; ++a)
    for (int64_t b = 0; b < s[1]; ++b)
      for (int64_t c = 0; c < s[2]; ++c)
        for (int64_t d = 0; d < s[3]; ++d)
          for (int64_t e = 0; e < s[4]; ++e, to += element_bytes)
            std::memcpy(to, from + src.offset(a, b, c, d, e) * element_bytes, element_bytes);
  return buffer;
}

// `v` copied into a contiguous channels-last buffer on `device`; `owner` keeps the buffer.
View5 channels_last_copy(const View5& v, DType dtype, Device device, void* stream,
                         std::shared_ptr<void>& owner) {
  const size_t element_bytes = static_cast<size_t>(dtype_size(dtype));
  owner = device.type == DeviceType::cpu
              ? cpu_contiguous_copy(v, element_bytes)
              : cuda_contiguous_copy(device, stream, v.data, v.shape, v.strides, element_bytes);
  return contiguous(v, owner.get());
}

// x' = the prologue of `v` (conv.h's Prologue) in a new contiguous channels-last buffer on
// `device`: the reference's own pass on the CPU (double), three launches on a GPU
// (cuda/prologue.cu); `owner` keeps the buffer.
View5 prologue_applied(const Prologue& prologue, const View5& v, DType dtype, Device device,
                       void* stream, std::shared_ptr<void>& owner) {
  if (device.type == DeviceType::cpu) {
    owner.reset(::operator new(static_cast<size_t>(numel(v) * dtype_size(dtype))),
                [](void* p) { ::operator delete(p); });
    cpu::prologue_reference(prologue, v, dtype, owner.get());
  } else {
    owner = cuda_prologue(device, stream, prologue, v.data, v.shape, v.strides, dtype);
  }
  return contiguous(v, owner.get());
}

// The staging passes over `input` and `weight` under `options`: the prologue when `prologue`
// (it writes a contiguous input, whatever the input's strides), else a channel-stride copy of
// each tensor that asks for one (`copy_input`, `copy_weight`).
StagedViews staging_passes(const View5& input, const View5& weight, const Options& options,
                           DType dtype, Device device, bool prologue, bool copy_input,
                           bool copy_weight) {
  StagedViews views{input, weight, options, nullptr, nullptr};
  if (prologue) {
    views.input =
        prologue_applied(options.prologue, input, dtype, device, options.stream, views.input_copy);
    views.options.prologue = Prologue{};
  } else if (copy_input) {
    views.input = channels_last_copy(input, dtype, device, options.stream, views.input_copy);
  }
  if (copy_weight)
    views.weight = channels_last_copy(weight, dtype, device, options.stream, views.weight_copy);
  return views;
}

bool stages_prologue(const Algorithm& algorithm, const Prologue& prologue) {
  return !prologue.empty() && !algorithm.applies(Fusion::prologue);
}

bool stages_channels(const Algorithm& algorithm, const View5& v) {
  return !algorithm.reads_any_channel_stride() && strided_channels(v);
}

}  // namespace

std::string staging_reason(const Algorithm& algorithm, const View5& input, const View5& weight,
                           const Prologue& prologue) {
  std::string why;
  const bool prologue_pass = stages_prologue(algorithm, prologue);
  for (const View5* v : {&input, &weight}) {
    // The prologue's pass writes the input channels-last whatever its strides.
    if (!stages_channels(algorithm, *v) || (v == &input && prologue_pass)) continue;
    why += std::string(why.empty() ? "" : "; ") +
           channel_stride_reason(v == &input ? "input" : "weight", *v);
  }
  if (!why.empty())
    why += std::string(", and ") + algorithm.name() +
           " reads channels-last tensors only: one staging copy into a contiguous channels-last "
           "buffer";
  if (prologue_pass)
    why += std::string(why.empty() ? "" : "; ") + algorithm.name() +
           " does not apply the input prologue (options.prologue) while it reads: one pass "
           "writes it into a contiguous channels-last input first (its statistics read the input "
           "once more)";
  return why;
}

StagedViews staged_for_every_algorithm(const View5& input, const View5& weight,
                                       const Options& options, DType dtype, Device device) {
  return staging_passes(input, weight, options, dtype, device, !options.prologue.empty(),
                        strided_channels(input), strided_channels(weight));
}

StagedViews staged_views(const Algorithm& algorithm, const View5& input, const View5& weight,
                         const Options& options, DType dtype, Device device) {
  return staging_passes(input, weight, options, dtype, device,
                        stages_prologue(algorithm, options.prologue),
                        stages_channels(algorithm, input), stages_channels(algorithm, weight));
}

}  // namespace vconv

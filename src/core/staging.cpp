#include "core/staging.h"

#include <cstring>

#include "core/device_runtime.h"

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
View5 staged(const View5& v, DType dtype, Device device, void* stream,
             std::shared_ptr<void>& owner) {
  const size_t element_bytes = static_cast<size_t>(dtype_size(dtype));
  owner = device.type == DeviceType::cpu
              ? cpu_contiguous_copy(v, element_bytes)
              : cuda_contiguous_copy(device, stream, v.data, v.shape, v.strides, element_bytes);
  return contiguous(v, owner.get());
}

}  // namespace

std::string staging_reason(const Algorithm& algorithm, const View5& input, const View5& weight) {
  if (algorithm.reads_any_channel_stride()) return {};
  std::string why;
  for (const View5* v : {&input, &weight}) {
    if (!strided_channels(*v)) continue;
    why += std::string(why.empty() ? "" : "; ") +
           channel_stride_reason(v == &input ? "input" : "weight", *v);
  }
  if (why.empty()) return {};
  return why + std::string(", and ") + algorithm.name() +
         " reads channels-last tensors only: one staging copy into a contiguous channels-last "
         "buffer";
}

StagedViews channels_last_views(const View5& input, const View5& weight, DType dtype, Device device,
                                void* stream) {
  StagedViews views{input, weight, nullptr, nullptr};
  if (strided_channels(input)) views.input = staged(input, dtype, device, stream, views.input_copy);
  if (strided_channels(weight))
    views.weight = staged(weight, dtype, device, stream, views.weight_copy);
  return views;
}

StagedViews staged_views(const Algorithm& algorithm, const View5& input, const View5& weight,
                         DType dtype, Device device, void* stream) {
  if (staging_reason(algorithm, input, weight).empty())
    return StagedViews{input, weight, nullptr, nullptr};
  return channels_last_views(input, weight, dtype, device, stream);
}

}  // namespace vconv

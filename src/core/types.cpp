#include "vconv/types.h"

#include "vconv/conv.h"
#include "vconv/conv_params.h"
#include "vconv/error.h"
#include "vconv/tensor_view.h"

namespace vconv {

int64_t dtype_size(DType t) {
  return t == DType::f32 ? 4 : 2;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::f16:
      return "f16";
    case DType::bf16:
      return "bf16";
  }
  return "?";
}

DType parse_dtype(const std::string& s, const char* argument) {
  if (s == "f32" || s == "float32") return DType::f32;
  if (s == "f16" || s == "float16") return DType::f16;
  if (s == "bf16" || s == "bfloat16") return DType::bf16;
  throw Error(std::string(argument) + ": unknown dtype '" + s + "', expected f32, f16 or bf16");
}

Fp32Math parse_fp32_math(const std::string& s, const char* argument) {
  if (s == "exact") return Fp32Math::exact;
  if (s == "tf32") return Fp32Math::tf32;
  throw Error(std::string(argument) + ": '" + s + "', expected exact or tf32");
}

std::string device_name(Device d) {
  return d.type == DeviceType::cpu ? "cpu" : "cuda:" + std::to_string(d.index);
}

const char* pad_mode_name(PadMode m) {
  switch (m) {
    case PadMode::zeros:
      return "zeros";
    case PadMode::replicate:
      return "replicate";
    case PadMode::reflect:
      return "reflect";
  }
  return "?";
}

TensorView::TensorView(void* data_, DType dtype_, std::vector<int64_t> shape_,
                       std::vector<int64_t> strides_, Device device_)
    : data(data_),
      dtype(dtype_),
      device(device_),
      shape(std::move(shape_)),
      strides(std::move(strides_)) {}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

std::vector<int64_t> TensorView::contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

}  // namespace vconv

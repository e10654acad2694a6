// Shape inference and validation of conv_general problems, MLX semantics.
#include "vconv/problem.h"

#include <cstdio>
#include <string>

#include "core/checked.h"
#include "core/index_map.h"
#include "core/shape_string.h"
#include "vconv/error.h"

namespace vconv {
namespace {

// Expands a per-dimension field (d values, one value, or none) into `dims` values.
template <typename T>
std::vector<T> per_dim(const std::vector<T>& v, int dims, T fallback, const char* field) {
  if (v.empty()) return std::vector<T>(dims, fallback);
  if (v.size() == 1) return std::vector<T>(dims, v[0]);
  if (static_cast<int>(v.size()) != dims)
    throw Error(std::string("params.") + field + ": expected " + std::to_string(dims) +
                " values (one per spatial dimension), 1 or none, got " + std::to_string(v.size()));
  return v;
}

// Throws when a tensor of `elements` elements of `dtype` would not fit in kMaxTensorBytes.
void check_tensor_bytes(const char* argument, const std::vector<int64_t>& shape, int64_t elements,
                        DType dtype) {
  const int64_t bytes =
      checked_mul(elements, dtype_size(dtype), std::string(argument) + " byte size");
  if (bytes <= kMaxTensorBytes) return;
  char size[64];
  std::snprintf(size, sizeof size, "%.4g GiB", static_cast<double>(bytes) / (1 << 30));
  throw Error(std::string(argument) + ": shape " + shape_str(shape) + " of " + dtype_name(dtype) +
              " is " + size + "; expected at most 128 TiB (kMaxTensorBytes, " +
              "the address space of a process): check the padding, dilations and strides");
}

}  // namespace

int64_t Problem::macs() const {
  int64_t m = n * o * cg();
  for (int i = 0; i < 3; ++i) m *= out[i] * k[i];
  return m;
}

std::vector<int64_t> Problem::input_shape() const {
  std::vector<int64_t> s{n};
  for (int i = 3 - dims; i < 3; ++i) s.push_back(in[i]);
  s.push_back(c);
  return s;
}

std::vector<int64_t> Problem::weight_shape() const {
  std::vector<int64_t> s{o};
  for (int i = 3 - dims; i < 3; ++i) s.push_back(k[i]);
  s.push_back(cg());
  return s;
}

std::vector<int64_t> Problem::output_shape() const {
  std::vector<int64_t> s{n};
  for (int i = 3 - dims; i < 3; ++i) s.push_back(out[i] * d2s[i]);
  s.push_back(stored_channels());
  return s;
}

ConvParams Problem::params() const {
  ConvParams p;
  for (int i = 3 - dims; i < 3; ++i) {
    p.stride.push_back(stride[i]);
    p.padding_lo.push_back(pad_lo[i]);
    p.padding_hi.push_back(pad_hi[i]);
    p.kernel_dilation.push_back(kdil[i]);
    p.input_dilation.push_back(idil[i]);
    p.pad_mode.push_back(mode[i]);
    p.upsample.push_back(up[i]);
    p.depth_to_space.push_back(d2s[i]);
  }
  p.groups = groups;
  p.flip = flip;
  p.causal_upsample = causal_up;
  return p;
}

Problem make_problem(const std::vector<int64_t>& input_shape,
                     const std::vector<int64_t>& weight_shape, const ConvParams& params,
                     DType dtype) {
  const int rank = static_cast<int>(input_shape.size());
  if (rank < 3 || rank > 5)
    throw Error(
        "input: expected rank 3, 4 or 5 ([N, spatial..., C] with 1 to 3 spatial dims), "
        "got shape " +
        shape_str(input_shape));
  if (static_cast<int>(weight_shape.size()) != rank)
    throw Error("weight: expected rank " + std::to_string(rank) +
                " ([O, kernel..., C/groups]) to match the input " + shape_str(input_shape) +
                ", got shape " + shape_str(weight_shape));
  for (int i = 0; i < rank; ++i) {
    if (input_shape[i] < 1)
      throw Error("input: shape[" + std::to_string(i) + "] = " + std::to_string(input_shape[i]) +
                  ", expected >= 1 (shape " + shape_str(input_shape) + ")");
    if (weight_shape[i] < 1)
      throw Error("weight: shape[" + std::to_string(i) + "] = " + std::to_string(weight_shape[i]) +
                  ", expected >= 1 (shape " + shape_str(weight_shape) + ")");
  }
  const int dims = rank - 2;
  Problem p;
  p.dtype = dtype;
  p.dims = dims;
  p.n = input_shape[0];
  p.c = input_shape[rank - 1];
  p.o = weight_shape[0];
  p.groups = params.groups;
  p.flip = params.flip;
  p.causal_up = params.causal_upsample;
  if (p.groups < 1)
    throw Error("params.groups: got " + std::to_string(p.groups) + ", expected >= 1");
  if (weight_shape[rank - 1] * p.groups != p.c)
    throw Error("weight: channel mismatch: input has C = " + std::to_string(p.c) +
                " channels but weight " + shape_str(weight_shape) +
                " has C/groups = " + std::to_string(weight_shape[rank - 1]) + " with groups = " +
                std::to_string(p.groups) + " (expected weight.shape[-1] * groups == C)");
  if (p.o % p.groups != 0)
    throw Error("weight: O = " + std::to_string(p.o) +
                " output channels is not divisible by "
                "groups = " +
                std::to_string(p.groups));

  const auto stride = per_dim<int64_t>(params.stride, dims, 1, "stride");
  const auto lo = per_dim<int64_t>(params.padding_lo, dims, 0, "padding_lo");
  const auto hi = per_dim<int64_t>(params.padding_hi, dims, 0, "padding_hi");
  const auto kdil = per_dim<int64_t>(params.kernel_dilation, dims, 1, "kernel_dilation");
  const auto idil = per_dim<int64_t>(params.input_dilation, dims, 1, "input_dilation");
  const auto mode = per_dim<PadMode>(params.pad_mode, dims, PadMode::zeros, "pad_mode");
  const auto up = per_dim<int64_t>(params.upsample, dims, 1, "upsample");
  const auto d2s = per_dim<int64_t>(params.depth_to_space, dims, 1, "depth_to_space");
  if (p.causal_up && up[0] < 2)
    throw Error("params.causal_upsample: upsample[0] = " + std::to_string(up[0]) +
                "; expected > 1 (frame 0 once, every later frame upsample[0] times)");

  for (int d = 0; d < dims; ++d) {
    const int i = 3 - dims + d;  // slot in the 3D arrays
    const std::string at = "[" + std::to_string(d) + "]";
    auto positive = [&](int64_t v, const char* field) {
      if (v < 1)
        throw Error(std::string("params.") + field + at + ": got " + std::to_string(v) +
                    ", expected >= 1");
    };
    positive(stride[d], "stride");
    positive(kdil[d], "kernel_dilation");
    positive(idil[d], "input_dilation");
    positive(up[d], "upsample");
    positive(d2s[d], "depth_to_space");
    p.in[i] = input_shape[1 + d];
    p.k[i] = weight_shape[1 + d];
    p.stride[i] = stride[d];
    p.pad_lo[i] = lo[d];
    p.pad_hi[i] = hi[d];
    p.kdil[i] = kdil[d];
    p.idil[i] = idil[d];
    p.mode[i] = mode[d];
    p.up[i] = up[d];
    p.d2s[i] = d2s[d];

    const std::string what = "spatial dimension " + std::to_string(d);
    checked_mul(p.in[i], p.up[i], what);  // bounds upsampled_length() below
    const int64_t upsampled = upsampled_length(dim_map(p, i));
    const int64_t dilated_in = checked_add(checked_mul(upsampled - 1, p.idil[i], what), 1, what);
    const int64_t padded =
        checked_add(checked_add(dilated_in, p.pad_lo[i], what), p.pad_hi[i], what);
    const int64_t dilated_k = checked_add(checked_mul(p.k[i] - 1, p.kdil[i], what), 1, what);
    if (padded < dilated_k)
      throw Error("params.padding" + at + ": padded input size " + std::to_string(padded) +
                  " (input " + std::to_string(p.in[i]) + ", upsample " + std::to_string(p.up[i]) +
                  ", input_dilation " + std::to_string(p.idil[i]) + ", padding " +
                  std::to_string(p.pad_lo[i]) + ":" + std::to_string(p.pad_hi[i]) +
                  ") is smaller than the dilated kernel " + std::to_string(dilated_k) +
                  ": the output size would be <= 0");
    p.out[i] = (padded - dilated_k) / p.stride[i] + 1;
    if (p.mode[i] == PadMode::reflect && (p.pad_lo[i] >= dilated_in || p.pad_hi[i] >= dilated_in))
      throw Error("params.pad_mode" + at + ": reflect padding " + std::to_string(p.pad_lo[i]) +
                  ":" + std::to_string(p.pad_hi[i]) +
                  " must be smaller than the (dilated) input "
                  "size " +
                  std::to_string(dilated_in));
  }
  int64_t blocks = 1;
  for (int i = 0; i < 3; ++i) blocks = checked_mul(blocks, p.d2s[i], "params.depth_to_space");
  if (p.o % blocks != 0)
    throw Error("params.depth_to_space: O = " + std::to_string(p.o) +
                " output channels is not divisible by " + std::to_string(blocks) +
                " (the product of the factors); expected a multiple of it");
  // Every element count and byte size must fit in int64 and within kMaxTensorBytes (the views
  // check their own byte extents separately).
  int64_t out_elems = p.n, in_elems = p.n, w_elems = p.o;
  for (int i = 0; i < 3; ++i) {
    out_elems = checked_mul(out_elems, checked_mul(p.out[i], p.d2s[i], "output"), "output");
    in_elems = checked_mul(in_elems, p.in[i], "input");
    w_elems = checked_mul(w_elems, p.k[i], "weight");
  }
  check_tensor_bytes("output", p.output_shape(),
                     checked_mul(out_elems, p.stored_channels(), "output"), dtype);
  check_tensor_bytes("input", p.input_shape(), checked_mul(in_elems, p.c, "input"), dtype);
  check_tensor_bytes("weight", p.weight_shape(), checked_mul(w_elems, p.cg(), "weight"), dtype);
  return p;
}

std::vector<int64_t> conv_output_shape(const std::vector<int64_t>& input_shape,
                                       const std::vector<int64_t>& weight_shape,
                                       const ConvParams& params, DType dtype) {
  return make_problem(input_shape, weight_shape, params, dtype).output_shape();
}

ConvParams conv_transpose_params(const std::vector<int64_t>& kernel,
                                 const std::vector<int64_t>& stride,
                                 const std::vector<int64_t>& padding,
                                 const std::vector<int64_t>& dilation,
                                 const std::vector<int64_t>& output_padding, int64_t groups) {
  const int dims = static_cast<int>(kernel.size());
  if (dims < 1 || dims > 3)
    throw Error("kernel: expected 1 to 3 kernel sizes, got " + std::to_string(dims));
  const auto s = per_dim<int64_t>(stride, dims, 1, "stride");
  const auto pad = per_dim<int64_t>(padding, dims, 0, "padding");
  const auto dil = per_dim<int64_t>(dilation, dims, 1, "dilation");
  const auto opad = per_dim<int64_t>(output_padding, dims, 0, "output_padding");
  ConvParams p;
  p.groups = groups;
  p.flip = true;
  for (int d = 0; d < dims; ++d) {
    if (opad[d] < 0 || (opad[d] >= s[d] && opad[d] >= dil[d]))
      throw Error("output_padding[" + std::to_string(d) + "]: got " + std::to_string(opad[d]) +
                  ", expected >= 0 and smaller than stride or dilation");
    const int64_t lo = dil[d] * (kernel[d] - 1) - pad[d];
    p.stride.push_back(1);
    p.padding_lo.push_back(lo);
    p.padding_hi.push_back(lo + opad[d]);
    p.kernel_dilation.push_back(dil[d]);
    p.input_dilation.push_back(s[d]);
  }
  return p;
}

}  // namespace vconv

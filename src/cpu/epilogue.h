#pragma once
// The fused epilogue (Options::epilogue) on the CPU: the one formula every CPU store applies, the
// bias loaded once per run in the fp32 the stores compute in, and the residual added after the
// activation.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/validate.h"
#include "cpu/convert.h"
#include "vconv/conv.h"

namespace vconv::cpu {

// act(v + bias) in fp32; the reference computes the same in double.
inline float apply_epilogue(float v, float bias, Activation activation) {
  v += bias;
  return activation == Activation::silu ? v / (1.0f + std::exp(-v)) : v;
}

// The epilogue as a run of stores sees it: the bias of the run's first channel (nullptr: no bias),
// the activation, and the residual's element at the run's first channel (nullptr: no residual)
// with the elements between its channels and its dtype. The default applies nothing.
struct StoreEpilogue {
  const float* bias = nullptr;
  Activation activation = Activation::none;
  const void* residual = nullptr;
  int64_t residual_step = 1;
  DType residual_dtype = DType::f32;
  bool empty() const {
    return bias == nullptr && activation == Activation::none && residual == nullptr;
  }
};

// The bias of a validated epilogue in fp32 (empty without a bias) and its residual's view. Keep it
// alive while stores use its StoreEpilogue.
struct LoadedEpilogue {
  std::vector<float> bias;
  Activation activation = Activation::none;
  View5 residual{};  // data nullptr: no residual
  DType residual_dtype = DType::f32;

  explicit LoadedEpilogue(const Epilogue& e) : activation(e.activation) {
    if (e.residual.data != nullptr) {
      residual = checked_view5(e.residual);
      residual_dtype = e.residual.dtype;
    }
    if (e.bias.data == nullptr) return;
    bias.resize(static_cast<size_t>(e.bias.shape[0]));
    load_f32(e.bias.dtype, e.bias.data, e.bias.shape[0], bias.data());
  }
  // The epilogue of a run of stores at output position (n, d, h, w) from channel o0 on (the
  // residual at the same position: the CPU algorithms store no depth-to-space).
  StoreEpilogue at(int64_t n, int64_t d, int64_t h, int64_t w, int64_t o0) const {
    StoreEpilogue s{bias.empty() ? nullptr : bias.data() + o0, activation};
    if (residual.data != nullptr) {
      s.residual = byte_ptr(residual.data, residual.offset(n, d, h, w, o0), residual_dtype);
      s.residual_step = residual.strides[4];
      s.residual_dtype = residual_dtype;
    }
    return s;
  }
};

// dst[0..n) = act(src + bias) + residual (or dst + that when accumulate), rounded once to dtype t.
inline void store_f32(DType t, const float* src, int64_t n, void* dst, bool accumulate,
                      const StoreEpilogue& epilogue) {
  if (epilogue.empty()) return store_f32(t, src, n, dst, accumulate);
  // Through a block on the stack, so that the cast/accumulate store stays the one in convert.h.
  constexpr int64_t kBlock = 256;
  float block[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = std::min(kBlock, n - i0);
    for (int64_t i = 0; i < len; ++i)
      block[i] = apply_epilogue(src[i0 + i], epilogue.bias ? epilogue.bias[i0 + i] : 0.0f,
                                epilogue.activation);
    if (epilogue.residual != nullptr) {  // after the activation, as the reference adds it
      float residual[kBlock];
      load_f32_strided(
          epilogue.residual_dtype,
          byte_ptr(epilogue.residual, i0 * epilogue.residual_step, epilogue.residual_dtype), len,
          epilogue.residual_step, residual);
      for (int64_t i = 0; i < len; ++i) block[i] += residual[i];
    }
    store_f32(t, block, len, byte_ptr(dst, i0, t), accumulate);
  }
}

}  // namespace vconv::cpu

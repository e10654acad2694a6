#pragma once
// The fused epilogue (Options::epilogue) on the CPU: the one formula every CPU store applies, and
// the bias loaded once per run in the fp32 the stores compute in.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/convert.h"
#include "vconv/conv.h"

namespace vconv::cpu {

// act(v + bias) in fp32; the reference computes the same in double.
inline float apply_epilogue(float v, float bias, Activation activation) {
  v += bias;
  return activation == Activation::silu ? v / (1.0f + std::exp(-v)) : v;
}

// The epilogue as a run of stores sees it: the bias of the run's first channel (nullptr: no bias)
// and the activation. The default applies nothing.
struct StoreEpilogue {
  const float* bias = nullptr;
  Activation activation = Activation::none;
  bool empty() const { return bias == nullptr && activation == Activation::none; }
  // The same epilogue for a run that starts `channels` further on.
  StoreEpilogue shifted(int64_t channels) const {
    return {bias ? bias + channels : nullptr, activation};
  }
};

// The bias of a validated epilogue in fp32 (empty without a bias). Keep it alive while stores use
// its StoreEpilogue.
struct LoadedEpilogue {
  std::vector<float> bias;
  Activation activation = Activation::none;

  explicit LoadedEpilogue(const Epilogue& e) : activation(e.activation) {
    if (e.bias.data == nullptr) return;
    bias.resize(static_cast<size_t>(e.bias.shape[0]));
    load_f32(e.bias.dtype, e.bias.data, e.bias.shape[0], bias.data());
  }
  StoreEpilogue store() const { return {bias.empty() ? nullptr : bias.data(), activation}; }
};

// dst[0..n) = act(src + bias) (or dst + act(src + bias) when accumulate), rounded once to dtype t.
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
    store_f32(t, block, len, byte_ptr(dst, i0, t), accumulate);
  }
}

}  // namespace vconv::cpu

#pragma once
// The GPU cost model, calibrated on an H100 from `vconv bench --suite seed|vae --device cuda`
// (docs/PERFORMANCE.md): the rates each algorithm reached on 3x3x3 convs with 192-512 channels.
// To recalibrate, run tools/gpu_check.sh and set each rate to the GFLOP/s its rows print.
#include "vconv/types.h"

namespace vconv::cuda::cost {

constexpr double kLaunchMs = 0.005;
constexpr double kImplicitGemmTflops = 230.0;      // cuda_implicit_gemm, bf16/f16, full tiles
constexpr double kImplicitGemmTf32Tflops = 100.0;  // cuda_implicit_gemm, TF32 (not yet measured)

// cuda_gemm_fallback end to end (im2col, cuBLAS, store): measured 18-37 TFLOP/s in bf16,
// 13-22 in exact fp32, 17-33 with TF32.
inline double fallback_ms(double flops, DType t, bool tf32) {
  const double tflops = t != DType::f32 ? 25.0 : tf32 ? 22.0 : 15.0;
  return flops / (tflops * 1e9);
}

inline double memory_ms(double bytes) {
  return bytes / (2.5e12) * 1e3;
}

}  // namespace vconv::cuda::cost

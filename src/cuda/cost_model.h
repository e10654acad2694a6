#pragma once
// The GPU cost model, calibrated on an H100 from `vconv bench --suite seed|vae --device cuda`
// (docs/PERFORMANCE.md): the rates each algorithm reached on 3x3x3 convs with 192-512 channels.
// To recalibrate, run tools/gpu_check.sh and set each rate to the GFLOP/s its rows print.
#include "vconv/types.h"

namespace vconv::cuda::cost {

constexpr double kLaunchMs = 0.005;
// cuda_implicit_gemm with full 128 x 128 tiles: 213-254 TFLOP/s in bf16, 101-106 in TF32; exact
// fp32 (three TF32 products) not yet measured. The narrow 128 x 16 tile loads as much A per MMA
// as it computes (shared-memory bound): assumed at 0.4x the wide rate, not yet measured.
inline double implicit_gemm_tflops(DType t, Fp32Math math, bool narrow) {
  const double wide = t != DType::f32 ? 230.0 : math == Fp32Math::tf32 ? 100.0 : 40.0;
  return narrow ? 0.4 * wide : wide;
}

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

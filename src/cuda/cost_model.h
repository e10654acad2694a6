#pragma once
// The GPU cost model: rates for an H100 (the measured matmul and copy ceilings of
// ../shared/anchors: bf16 764 TFLOP/s, fp32 FFMA ~51, TF32 425, copies ~3 TB/s), with the
// efficiency each algorithm reaches at conv shapes applied by the algorithm.
#include "vconv/types.h"

namespace vconv::cuda::cost {

constexpr double kLaunchMs = 0.005;
constexpr double kImplicitGemmTflops = 300.0;  // cuda_implicit_gemm, bf16/f16, full tiles

inline double gemm_ms(double flops, DType t) {
  const double tflops = t == DType::f32 ? 40.0 : 600.0;  // cuBLAS at conv-like shapes
  return flops / (tflops * 1e9);
}

inline double memory_ms(double bytes) {
  return bytes / (2.5e12) * 1e3;
}

}  // namespace vconv::cuda::cost

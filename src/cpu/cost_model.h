#pragma once
// The CPU cost model: time from arithmetic and bytes moved, with throughput constants calibrated
// once on the development machine (2 cores of an AMD EPYC with AVX2 and FMA, then with OpenBLAS
// 0.3.21's GEMM; vconv's own, which replaced it, runs at about the same rate on large products)
// from `vconv bench --suite bench/suites/cpu.txt --no-scale` and `vconv bench --suite vae`
// (docs/PERFORMANCE.md). To recalibrate on another machine, run those
// two commands, and fit the constants below to the achieved rates they print: kGemmGflops to
// cpu_gemm on the C = 64 cases, the gather rates to the gap between cpu_gemm and its GEMM time,
// kTransformGflops to winograd_f4x3 less its GEMM time. The weight transform's rate and the
// thread balance were added later from `vconv bench --suite seed` on 2 cores of an Intel Xeon
// with AVX-512, where the rates above still ranked the algorithms as measured.
#include <algorithm>
#include <cmath>

#include "vconv/types.h"

namespace vconv::cpu::cost {

constexpr double kGemmGflops = 180.0;     // the GEMM with >= 64 output columns, 2 threads
constexpr double kReferenceGflops = 3.2;  // the reference's double loop
constexpr double kCallOverheadMs = 0.01;  // per sub-problem (a depth tap's 2D conv)

// SGEMM slows down with few output columns (N); measured 0.8x at N = 32, 0.09x at N = 3.
inline double gemm_efficiency(double n) {
  if (n >= 64) return 1.0;
  return n >= 16 ? std::pow(n / 64.0, 0.3) : std::pow(n / 64.0, 0.8);
}

inline double gemm_ms(double flops, double n) {
  return flops / (kGemmGflops * gemm_efficiency(n) * 1e6);
}

// Gathering input rows into fp32 scratch (im2col, Winograd patches), per fp32 byte written.
inline double gather_ms(double f32_bytes, DType t) {
  return f32_bytes / ((t == DType::f32 ? 45.0 : 25.0) * 1e6);
}

// Winograd's tile transforms, scalar-heavy loops.
inline double transform_ms(double flops, DType t) {
  return flops / ((t == DType::f32 ? 12.0 : 9.0) * 1e6);
}

// Winograd's weight transform (G g G^T per tap pair and channel pair), scalar with scattered
// writes: 4 GFLOP/s a thread, measured as what F(2x2)/F(4x4) took beyond the rest of the model on
// the scaled seed case bf16 4x16x16 32->32 3x3x3 (0.11/0.22 ms at 1 thread, docs/PERFORMANCE.md).
inline double weight_transform_ms(double flops) {
  return flops / (8.0 * 1e6);
}

// The calibration machine's cores: the rates above are for work spread over both of them.
constexpr double kThreads = 2;

// How much longer than spread evenly `units` of work take on kThreads threads in chunks of
// `per_chunk` units (the last one shorter): the busiest thread's share against an even one.
// One chunk runs on one thread (2x); 98 units in chunks of 32 give one thread 64 (1.31x).
inline double thread_balance(double units, double per_chunk) {
  const double chunks = std::ceil(units / per_chunk);
  const double busiest = std::min(std::ceil(chunks / kThreads) * per_chunk, units);
  return busiest * kThreads / units;
}

// Streaming fp32 passes over an output (zeroing, rounding).
inline double stream_ms(double bytes) {
  return bytes / (10.0 * 1e6);
}

}  // namespace vconv::cpu::cost

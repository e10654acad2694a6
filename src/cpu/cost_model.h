#pragma once
// The CPU cost model: time from arithmetic and bytes moved, with throughput constants calibrated
// once on the development machine (2 cores of an AMD EPYC with AVX2, OpenBLAS 0.3.21).
// To recalibrate on another machine: run tools/calibrate_cpu.sh and copy the constants it prints
// (the achieved rates of each algorithm over bench/suites/cpu.txt) here.
namespace vconv::cpu::cost {

constexpr double kGemmGflops = 60.0;              // OpenBLAS SGEMM at conv shapes
constexpr double kMemoryGBps = 8.0;               // streaming fp32 read + write through our loops
constexpr double kReferenceGflops = 3.2;          // the reference's double loop
constexpr double kWinogradTransformGflops = 8.0;  // input/output tile transforms
constexpr double kCallOverheadMs = 0.01;          // per GEMM call and per sub-problem

inline double gemm_ms(double flops) {
  return flops / (kGemmGflops * 1e6);
}
// GEMMs with few channels run below the large-GEMM rate.
inline double small_gemm_penalty(double k, double n) {
  const double smallest = k < n ? k : n;
  return smallest >= 64 ? 1.0 : 64.0 / (smallest > 8 ? smallest : 8);
}
inline double memory_ms(double bytes) {
  return bytes / (kMemoryGBps * 1e6);
}

}  // namespace vconv::cpu::cost

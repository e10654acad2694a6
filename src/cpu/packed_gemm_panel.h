#pragma once
// The interface between the packed GEMM's driver (packed_gemm.cpp) and its per-ISA kernels. Kept
// free of other headers: packed_gemm_avx2.cpp is compiled for AVX2, and an inline function it
// shared with the rest of the library could be linked into callers on CPUs without AVX2.
#include <cstdint>

namespace vconv::cpu {

// Columns per packed panel of B: two AVX2 vectors.
constexpr int64_t kPanelWidth = 16;
// Rows of C per kernel block (the AVX2 kernel's): a row count that is a multiple of it runs the
// kernel on full blocks only.
constexpr int64_t kBlockRows = 6;

// One panel of C: rows [0, m), columns [0, cols) with cols <= kPanelWidth, over k.
struct PanelCall {
  int64_t m, k, cols;
  const float* a;
  int64_t lda;
  const float* b;  // [k][kPanelWidth]
  float* c;
  int64_t ldc;
  bool add_to_c;  // C += the sums, else C = the sums
};

void gemm_panel_portable(const PanelCall& call);
void gemm_panel_avx2_fma(const PanelCall& call);  // only where best_gemm_kernel() says so

}  // namespace vconv::cpu

#pragma once
// The interface between the packed GEMM's driver (packed_gemm.cpp) and its per-ISA kernels. Kept
// free of other headers: packed_gemm_avx2.cpp and packed_gemm_avx512.cpp are compiled for their
// ISA, and an inline function they shared with the rest of the library could be linked into
// callers on CPUs without it.
#include <cstdint>

namespace vconv::cpu {

// Columns per packed panel of B: two AVX2 vectors.
constexpr int64_t kPanelWidth = 16;
// A multiple of every kernel's rows per block (AVX2: 6, AVX-512: 12): a row count that is a
// multiple of it runs the kernels on full blocks only.
constexpr int64_t kBlockRows = 12;

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
// Only where gemm_kernel_runs() says the CPU runs them:
void gemm_panel_avx2_fma(const PanelCall& call);
void gemm_panel_avx512(const PanelCall& call);

}  // namespace vconv::cpu

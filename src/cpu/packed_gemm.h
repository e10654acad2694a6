#pragma once
// C = A * B (+ C) for a row-major A read in place (any row stride) and a B packed once into
// panels of kPanelWidth columns: the GEMMs of Winograd's tiles and of pointwise convs, whose B (a
// weight) serves every chunk of a call. OpenBLAS, which vconv called before, packed B again at
// each call and A too: a fifth of Winograd's time on 32-row chunks (docs/PERFORMANCE.md, "The CPU's
// own GEMM").
//
// Each element of C is a sum over k in blocks of 256 (within a block one sequential sum, with fused
// multiply-adds on AVX2 and AVX-512; the blocks' sums added to C in order), the same whatever m,
// n, the row block or the thread: results depend on the kernel (FMA or the portable one), not on
// how a call is chunked into rows.
#include <cstdint>

#include "cpu/packed_gemm_panel.h"

namespace vconv::cpu {

// The kernels this build has; `best_gemm_kernel()` is the fastest the CPU runs, and
// `gemm_kernel_runs(k)` whether the CPU runs k.
enum class GemmKernel { portable, avx2_fma, avx512 };
GemmKernel best_gemm_kernel();
bool gemm_kernel_runs(GemmKernel kernel);
const char* to_string(GemmKernel kernel);

// The kernel every CPU algorithm's GEMM runs: the one the environment variable
// VCONV_CPU_GEMM_KERNEL names (portable, avx2_fma or avx512: to test a kernel inside the
// algorithms, as tools/test.sh does with the portable one, or for results that do not depend on
// the CPU's FMA support), else best_gemm_kernel(). Throws, naming the variable, when it names no
// kernel or one the CPU does not run.
GemmKernel default_gemm_kernel();

// Floats of B [k][n] packed: ceil(n / kPanelWidth) panels of [k][kPanelWidth], zero-padded.
int64_t packed_b_floats(int64_t k, int64_t n);

// Where B's element (kk, j) lies in a packing of k rows: panel j / kPanelWidth, row kk, column
// j % kPanelWidth. Columns from n up to the last panel's end are zeros.
inline int64_t packed_b_offset(int64_t k, int64_t kk, int64_t j) {
  return (j / kPanelWidth * k + kk) * kPanelWidth + j % kPanelWidth;
}

// Packs B [k][n] (row stride ldb) into `packed` (packed_b_floats(k, n) floats).
void pack_b(int64_t k, int64_t n, const float* b, int64_t ldb, float* packed);

// C [m][n] (row stride ldc) = A [m][k] (row stride lda) * B, or += when accumulate: each block's
// sum rounded, then added to C in turn, ((C + s0) + s1) + ..., so for k > 256 an accumulating
// call rounds differently from C + (a product computed apart): within fp32 rounding, not
// bitwise. `packed_b` comes from pack_b(k, n, ...). `kernel`: default_gemm_kernel() for the
// algorithms, resolved before their parallel regions (an exception cannot leave one).
void gemm_packed_b(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                   const float* packed_b, float* c, int64_t ldc, bool accumulate,
                   GemmKernel kernel);

}  // namespace vconv::cpu

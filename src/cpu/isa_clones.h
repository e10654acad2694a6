#pragma once
// VCONV_ISA_CLONES before a function whose loops vectorise gives it one copy per x86-64 level
// (AVX-512, AVX2 + FMA, baseline SSE2), of which the loader picks the CPU's best (GCC's
// target_clones, an ifunc): the build targets baseline x86-64, where those loops run 4 floats at a
// time. Results do not depend on the copy (the GEMM's FMA kernels, packed_gemm.h, are another
// matter): the library is compiled with -ffp-contract=off
// (CMakeLists.txt; no fused multiply-adds) and the vectorised loops reorder no sums. Elsewhere it
// is empty.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VCONV_ISA_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VCONV_ISA_CLONES
#endif

#pragma once
// The one SGEMM the CPU algorithms call: row-major C = A * B + beta * C, from OpenBLAS.
#include <cblas.h>

#include <cstdint>
#include <string>

#include "vconv/error.h"

namespace vconv::cpu {

inline void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                  int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  for (int64_t v : {m, n, k, lda, ldb, ldc})
    if (v > INT32_MAX)
      throw Error("cpu sgemm: dimension " + std::to_string(v) + " exceeds OpenBLAS's 32-bit index");
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(lda),
              b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

}  // namespace vconv::cpu

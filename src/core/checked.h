#pragma once
// 64-bit arithmetic that reports overflow instead of wrapping.
#include <cstdint>
#include <string>

#include "vconv/error.h"

namespace vconv {

inline int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw Error(what + ": size overflows int64");
  return r;
}

inline int64_t checked_add(int64_t a, int64_t b, const std::string& what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw Error(what + ": size overflows int64");
  return r;
}

}  // namespace vconv

#pragma once
// IEEE binary16 and bfloat16 storage types with round-to-nearest-even conversion from float.
// Host and device code share these so that every path rounds the same way.
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define VCONV_HOST_DEVICE __host__ __device__
#else
#define VCONV_HOST_DEVICE
#endif

namespace vconv {

struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

VCONV_HOST_DEVICE inline uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
VCONV_HOST_DEVICE inline float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

VCONV_HOST_DEVICE inline float to_float(float x) {
  return x;
}

VCONV_HOST_DEVICE inline float to_float(BFloat16 x) {
  return bits_float(static_cast<uint32_t>(x.bits) << 16);
}

VCONV_HOST_DEVICE inline float to_float(Half x) {
  const uint32_t sign = static_cast<uint32_t>(x.bits & 0x8000u) << 16;
  const uint32_t exp = (x.bits >> 10) & 0x1fu;
  const uint32_t man = x.bits & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (man << 13));  // inf, nan
  if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (man << 13));
  // Subnormal: man * 2^-24.
  const float v = static_cast<float>(man) * 5.9604644775390625e-8f;
  return sign ? -v : v;
}

template <typename T>
VCONV_HOST_DEVICE T from_float(float x);

template <>
VCONV_HOST_DEVICE inline float from_float<float>(float x) {
  return x;
}

template <>
VCONV_HOST_DEVICE inline BFloat16 from_float<BFloat16>(float x) {
  const uint32_t u = float_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return BFloat16{static_cast<uint16_t>((u >> 16) | 0x40)};
  const uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return BFloat16{static_cast<uint16_t>(rounded >> 16)};
}

template <>
VCONV_HOST_DEVICE inline Half from_float<Half>(float x) {
  const uint32_t u = float_bits(x);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return Half{static_cast<uint16_t>(sign | 0x7e00u)};   // nan
  if (a >= 0x477ff000u) return Half{static_cast<uint16_t>(sign | 0x7c00u)};  // rounds to inf
  if (a < 0x38800000u) {
    // Result is subnormal or zero: value / 2^-24, rounded to nearest even.
    const float scaled = bits_float(a) * 16777216.0f;  // exact: power of two
    uint32_t q = static_cast<uint32_t>(scaled);
    const float rem = scaled - static_cast<float>(q);
    if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
    return Half{static_cast<uint16_t>(sign | q)};
  }
  // Normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even.
  const uint32_t rebiased = a - (112u << 23);
  const uint32_t rounded = rebiased + 0xfffu + ((rebiased >> 13) & 1u);
  return Half{static_cast<uint16_t>(sign | (rounded >> 13))};
}

}  // namespace vconv

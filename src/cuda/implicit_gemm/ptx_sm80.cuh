#pragma once
// One-instruction wrappers for sm_80+: cp.async, ldmatrix, mma.sync (bf16/f16/TF32, fp32
// accumulate), and the MMA policy of each input type.
#include <cstdint>

namespace vconv::cuda::implicit_gemm {

// 16-byte global -> shared copy; when `pred` is false nothing is read and the 16 bytes are zeroed.
// The pointer p, computed here once: the compiler may not recompute its operands at each use (it
// sank a tap's 64-bit offset arithmetic into each of 16 rows' branches, 530 instructions per tap
// where 100 do).
template <typename T>
__device__ inline const T* materialize(const T* p) {
  asm volatile("" : "+l"(p));
  return p;
}

__device__ inline void cp_async_16(void* smem, const void* gmem, bool pred) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = pred ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(bytes));
}

__device__ inline void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}

template <int N>
__device__ inline void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Waits for every cp.async this thread issued, committed to a group or not.
__device__ inline void cp_async_wait_all() {
  asm volatile("cp.async.wait_all;\n" ::: "memory");
}

__device__ inline void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

// d += a * b for one m16n8k16 tile; kBf16 selects bf16 inputs, else f16.
template <bool kBf16>
__device__ inline void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (kBf16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// The MMA of each input type: its element storage type, k per instruction (m16n8k16 for bf16 and
// f16, m16n8k8 for TF32), and how fragments loaded from shared memory become MMA operands:
// convert() once per fragment register (fp32 rounded to TF32), or, for kSplit policies, split()
// into a big and a small part that three MMAs multiply (big*small + small*big + big*big).
struct MmaBf16 {
  using Element = uint16_t;
  static constexpr int kK = 16;
  static constexpr bool kSplit = false;
  static constexpr bool kWarpgroup = false;
  __device__ static void convert(uint32_t&) {}
  __device__ static void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_16816<true>(d, a, b0, b1);
  }
};

struct MmaF16 {
  using Element = uint16_t;
  static constexpr int kK = 16;
  static constexpr bool kSplit = false;
  static constexpr bool kWarpgroup = false;
  __device__ static void convert(uint32_t&) {}
  __device__ static void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_16816<false>(d, a, b0, b1);
  }
};

__device__ inline uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}

__device__ inline void mma_1688_tf32(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                     uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// fp32 inputs multiplied in TF32 (10-bit mantissas): Options::fp32_math = tf32.
struct MmaTf32 {
  using Element = float;
  static constexpr int kK = 8;
  static constexpr bool kSplit = false;
  static constexpr bool kWarpgroup = false;
  __device__ static void convert(uint32_t& x) { x = to_tf32(__uint_as_float(x)); }
  __device__ static void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_1688_tf32(d, a, b0, b1);
  }
};

// fp32 inputs at fp32 accuracy on tensor cores (Options::fp32_math = exact): x = big + small
// with big = tf32(x) and small = tf32(x - big) carries 22 of fp32's 24 mantissa bits, and
// a*b ~ big_a*big_b + big_a*small_b + small_a*big_b drops only small_a*small_b (2^-22 relative).
// Products are summed in fp32 as in an fp32 FMA loop; the small terms go first so that they are
// not absorbed by the large partial sum.
struct MmaTf32x3 {
  using Element = float;
  static constexpr int kK = 8;
  static constexpr bool kSplit = true;
  static constexpr bool kWarpgroup = false;
  __device__ static void split(uint32_t& x, uint32_t& small) {
    const float v = __uint_as_float(x);
    x = to_tf32(v);
    small = to_tf32(v - __uint_as_float(x));
  }
  __device__ static void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_1688_tf32(d, a, b0, b1);
  }
};

}  // namespace vconv::cuda::implicit_gemm

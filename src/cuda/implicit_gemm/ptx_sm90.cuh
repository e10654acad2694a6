#pragma once
// One-instruction wrappers for sm_90a: wgmma (a warpgroup's MMA, A and B read from shared memory
// through matrix descriptors), its fence/commit/wait, the cross-proxy fence, and the MMA policy of
// each 16-bit input type. wgmma exists only in sm_90a code (__CUDA_ARCH_FEAT_SM90_ALL); in the
// other targets these wrappers trap, and the host never launches a kernel built on them there
// (cuda_implicit_gemm_sm90 requires a build with sm_90a and a compute capability 9.0 device).
#include <cstdint>

namespace vconv::cuda::implicit_gemm {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define VCONV_WGMMA_ASM(...) asm volatile(__VA_ARGS__)
#else
#define VCONV_WGMMA_ASM(...) __trap()
#endif

// The descriptor of a K-major tile of 128-byte rows in the 128-byte swizzle (16-byte chunk c of
// row r stored at chunk c ^ (r % 8); 8-row groups of 1024 bytes, 1024-byte aligned): start
// address, stride byte offset 1024 between 8-row groups, leading byte offset unused (1), swizzle
// mode 1. All three offsets are in 16-byte units.
__device__ inline uint64_t sw128_descriptor(const void* smem) {
  const auto addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  return uint64_t((addr & 0x3FFFF) >> 4) | uint64_t(1) << 16 | uint64_t(1024 >> 4) << 32 |
         uint64_t(1) << 62;
}

// Orders shared memory written through the generic proxy (cp.async, stores) before the tensor
// cores read it through the async proxy; each writing thread runs it before the barrier.
__device__ inline void fence_proxy_async() {
  VCONV_WGMMA_ASM("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// Register accumulators written by other instructions are ordered before the next wgmma.
__device__ inline void wgmma_fence() {
  VCONV_WGMMA_ASM("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ inline void wgmma_commit() {
  VCONV_WGMMA_ASM("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

template <int N>
__device__ inline void wgmma_wait() {
  VCONV_WGMMA_ASM("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// Makes the compiler treat the accumulators as written here: reads of them (the epilogue) stay
// after the wgmma_wait that completes the asynchronous MMAs writing them.
template <int N>
__device__ inline void fence_accumulators(float (&d)[N][4]) {
#pragma unroll
  for (int j = 0; j < N; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[j][e])::"memory");
}

#define VCONV_D4(j) "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])
#define VCONV_D64                                                                            \
  VCONV_D4(0), VCONV_D4(1), VCONV_D4(2), VCONV_D4(3), VCONV_D4(4), VCONV_D4(5), VCONV_D4(6), \
      VCONV_D4(7), VCONV_D4(8), VCONV_D4(9), VCONV_D4(10), VCONV_D4(11), VCONV_D4(12),       \
      VCONV_D4(13), VCONV_D4(14), VCONV_D4(15)

// d = A * B (+ d where `accumulate`) for a 64 x 128 x 16 tile: A (64 rows) and B (128 output
// channels) K-major in shared memory, d the warpgroup's accumulators in wgmma's layout (warp w of
// the warpgroup holds rows 16w..16w+15, as mma.sync m16n8 tiles: d[j] is columns 8j..8j+7). TYPE is
// bf16 or f16.
#define VCONV_WGMMA_M64N128K16(TYPE)                                                     \
  VCONV_WGMMA_ASM(                                                                       \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                       \
      "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE                       \
      " {"                                                                               \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"   \
      "}, %64, %65, p, 1, 1, 0, 0;\n}\n"                                                 \
      : VCONV_D64                                                                        \
      : "l"(a), "l"(b), "r"(int(accumulate)))

template <bool kBf16>
__device__ inline void wgmma_m64n128k16(float (&d)[16][4], uint64_t a, uint64_t b,
                                        bool accumulate) {
  if constexpr (kBf16)
    VCONV_WGMMA_M64N128K16("bf16");
  else
    VCONV_WGMMA_M64N128K16("f16");
}

#undef VCONV_WGMMA_M64N128K16
#undef VCONV_D64
#undef VCONV_D4

// The warpgroup MMA of each 16-bit input type: its element storage type and k per instruction.
template <bool kBf16>
struct Wgmma16 {
  using Element = uint16_t;
  static constexpr int kK = 16;
  static constexpr bool kWarpgroup = true;
  __device__ static void mma(float (&d)[16][4], uint64_t a, uint64_t b, bool accumulate) {
    wgmma_m64n128k16<kBf16>(d, a, b, accumulate);
  }
};
using WgmmaBf16 = Wgmma16<true>;
using WgmmaF16 = Wgmma16<false>;

}  // namespace vconv::cuda::implicit_gemm

#pragma once
// One-instruction wrappers for sm_90a: wgmma (a warpgroup's MMA, A and B read from shared memory
// through matrix descriptors), its fence/commit/wait, the cross-proxy fence, the MMA policy of
// each input type (bf16, f16, fp32 as TF32); mbarriers and the tensor copy engine (TMA).
// These are compiled only into sm_90a code (__CUDA_ARCH_FEAT_SM90_ALL); in the other targets they
// trap, and the host never launches a kernel built on them there (cuda_implicit_gemm_sm90
// requires a build with sm_90a and a compute capability 9.0 device).
#include <cuda.h>  // CUtensorMap

#include <cstdint>
#include <type_traits>

namespace vconv::cuda::implicit_gemm {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define VCONV_SM90A_ASM(...) asm volatile(__VA_ARGS__)
#else
#define VCONV_SM90A_ASM(...) __trap()
#endif

// The descriptor of a K-major tile of 128-byte rows in the 128-byte swizzle (16-byte chunk c of
// row r stored at chunk c ^ (r % 8); 8-row groups of 1024 bytes, 1024-byte aligned): start
// address, stride byte offset 1024 between 8-row groups, leading byte offset unused (1), swizzle
// mode 1. All three offsets are in 16-byte units.
__device__ inline uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ inline uint64_t sw128_descriptor(const void* smem) {
  const uint32_t addr = smem_u32(smem);
  return uint64_t((addr & 0x3FFFF) >> 4) | uint64_t(1) << 16 | uint64_t(1024 >> 4) << 32 |
         uint64_t(1) << 62;
}

// Orders shared memory written through the generic proxy (cp.async, stores) before the tensor
// cores read it through the async proxy; each writing thread runs it before the barrier.
__device__ inline void fence_proxy_async() {
  VCONV_SM90A_ASM("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// Register accumulators written by other instructions are ordered before the next wgmma.
__device__ inline void wgmma_fence() {
  VCONV_SM90A_ASM("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ inline void wgmma_commit() {
  VCONV_SM90A_ASM("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

template <int N>
__device__ inline void wgmma_wait() {
  VCONV_SM90A_ASM("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
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
#define VCONV_D8(j)                                                                \
  VCONV_D4(j), VCONV_D4(j + 1), VCONV_D4(j + 2), VCONV_D4(j + 3), VCONV_D4(j + 4), \
      VCONV_D4(j + 5), VCONV_D4(j + 6), VCONV_D4(j + 7)
#define VCONV_D16(j)                                                                            \
  VCONV_D4(j), VCONV_D4(j + 1), VCONV_D4(j + 2), VCONV_D4(j + 3), VCONV_D4(j + 4),              \
      VCONV_D4(j + 5), VCONV_D4(j + 6), VCONV_D4(j + 7), VCONV_D4(j + 8), VCONV_D4(j + 9),      \
      VCONV_D4(j + 10), VCONV_D4(j + 11), VCONV_D4(j + 12), VCONV_D4(j + 13), VCONV_D4(j + 14), \
      VCONV_D4(j + 15)

// d = A * B (+ d where `accumulate`) for a 64 x N x K tile: A (64 rows) and B (N output
// channels) K-major in shared memory, d the warpgroup's accumulators in wgmma's layout (warp w of
// the warpgroup holds rows 16w..16w+15, as mma.sync m16n8 tiles: d[j] is columns 8j..8j+7). N is
// 128 (64 accumulators per thread), 192 (96) or 256 (128). KTYPES names k and the input types
// ("k16.f32.bf16.bf16"); TAIL ends the operands: 16-bit inputs take the two transpose flags (0:
// K-major), TF32 inputs are K-major only and take none.
#define VCONV_WGMMA_M64N128(KTYPES, TAIL)                                                \
  VCONV_SM90A_ASM(                                                                       \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                       \
      "wgmma.mma_async.sync.aligned.m64n128" KTYPES                                      \
      " {"                                                                               \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"   \
      "}, %64, %65, p, 1, 1" TAIL ";\n}\n"                                               \
      : VCONV_D16(0)                                                                     \
      : "l"(a), "l"(b), "r"(int(accumulate)))
#define VCONV_WGMMA_M64N192(KTYPES, TAIL)                                                \
  VCONV_SM90A_ASM(                                                                       \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %98, 0;\n"                                       \
      "wgmma.mma_async.sync.aligned.m64n192" KTYPES                                      \
      " {"                                                                               \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"   \
      "}, %96, %97, p, 1, 1" TAIL ";\n}\n"                                               \
      : VCONV_D16(0), VCONV_D8(16)                                                       \
      : "l"(a), "l"(b), "r"(int(accumulate)))
#define VCONV_WGMMA_M64N256(KTYPES, TAIL)                                                          \
  VCONV_SM90A_ASM(                                                                                 \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"                                                \
      "wgmma.mma_async.sync.aligned.m64n256" KTYPES                                                \
      " {"                                                                                         \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                     \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "           \
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "           \
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "           \
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "           \
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "           \
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, "     \
      "%111, "                                                                                     \
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, " \
      "%127"                                                                                       \
      "}, %128, %129, p, 1, 1" TAIL ";\n}\n"                                                       \
      : VCONV_D16(0), VCONV_D16(16)                                                                \
      : "l"(a), "l"(b), "r"(int(accumulate)))

// The input types wgmma multiplies here.
enum class WgmmaInput { bf16, f16, tf32 };

// One wgmma of width N (128, 192 or 256: d holds N / 8 column groups), k 16 for 16-bit inputs and
// 8 for TF32.
#define VCONV_WGMMA_OF_INPUT(SHAPE)         \
  if constexpr (In == WgmmaInput::bf16)     \
    SHAPE("k16.f32.bf16.bf16", ", 0, 0");   \
  else if constexpr (In == WgmmaInput::f16) \
    SHAPE("k16.f32.f16.f16", ", 0, 0");     \
  else                                      \
    SHAPE("k8.f32.tf32.tf32", "");
template <WgmmaInput In, int N>
__device__ inline void wgmma_m64(float (&d)[N / 8][4], uint64_t a, uint64_t b, bool accumulate) {
  static_assert(N == 128 || N == 192 || N == 256, "the widths the tiles use");
  if constexpr (N == 128) {
    VCONV_WGMMA_OF_INPUT(VCONV_WGMMA_M64N128)
  } else if constexpr (N == 192) {
    VCONV_WGMMA_OF_INPUT(VCONV_WGMMA_M64N192)
  } else {
    VCONV_WGMMA_OF_INPUT(VCONV_WGMMA_M64N256)
  }
}

#undef VCONV_WGMMA_OF_INPUT
#undef VCONV_WGMMA_M64N256
#undef VCONV_WGMMA_M64N192
#undef VCONV_WGMMA_M64N128
#undef VCONV_D16
#undef VCONV_D8
#undef VCONV_D4

// The warpgroup MMA of each input type: its element storage type, k per instruction, and whether
// fp32 elements must reach shared memory rounded to TF32 (kRoundsToTf32): wgmma reads them as TF32
// by dropping their low 13 mantissa bits, a truncation whose bias, about 7e-4 of each product,
// would sum with the output; rounded to nearest instead (as the mma.sync TF32 policy does in
// registers), by the copy engine as it loads (TFLOAT32 tensor maps) and by the producer in the A
// rows it gathers (round_stage, producer_sm90.cuh).
template <WgmmaInput In>
struct Wgmma {
  using Element = std::conditional_t<In == WgmmaInput::tf32, float, uint16_t>;
  static constexpr int kK = 32 / int(sizeof(Element));
  static constexpr bool kWarpgroup = true;
  static constexpr bool kRoundsToTf32 = In == WgmmaInput::tf32;
  template <int J>
  __device__ static void mma(float (&d)[J][4], uint64_t a, uint64_t b, bool accumulate) {
    wgmma_m64<In, 8 * J>(d, a, b, accumulate);
  }
};
using WgmmaBf16 = Wgmma<WgmmaInput::bf16>;
using WgmmaF16 = Wgmma<WgmmaInput::f16>;
using WgmmaTf32 = Wgmma<WgmmaInput::tf32>;

// An mbarrier whose phases complete after `count` arrivals (and the transactions announced).
__device__ inline void mbarrier_init(uint64_t* bar, uint32_t count) {
  VCONV_SM90A_ASM("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(count)
                  : "memory");
}

// Makes this thread's mbarrier initialisations visible to the tensor copy engine.
__device__ inline void fence_mbarrier_init() {
  VCONV_SM90A_ASM("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// Arrives once and adds `bytes` to the transaction bytes the current phase waits for.
__device__ inline void mbarrier_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  VCONV_SM90A_ASM("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(bar)),
                  "r"(bytes)
                  : "memory");
}

// Adds `bytes` to the transaction bytes the current phase waits for, without arriving.
__device__ inline void mbarrier_expect_tx(uint64_t* bar, uint32_t bytes) {
  VCONV_SM90A_ASM("mbarrier.expect_tx.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(bytes)
                  : "memory");
}

// Waits until the phase of parity `parity` of the barrier has completed.
__device__ inline void mbarrier_wait(uint64_t* bar, uint32_t parity) {
  VCONV_SM90A_ASM(
      "{\n.reg .pred done;\nvconv_wait:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra vconv_wait;\n}\n" ::"r"(smem_u32(bar)),
      "r"(parity)
      : "memory");
}

// The tensor copy engine: the 5D box at `coords` (innermost first) of the tensor `map`
// describes, written into shared memory at `dst`, its bytes completing on the barrier `bar`.
__device__ inline void tma_load_5d(void* dst, const CUtensorMap* map, uint64_t* bar,
                                   const int (&coords)[5]) {
  VCONV_SM90A_ASM(
      "cp.async.bulk.tensor.5d.shared::cluster.global.mbarrier::complete_tx::bytes "
      "[%0], [%1, {%3, %4, %5, %6, %7}], [%2];\n" ::"r"(smem_u32(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_u32(bar)), "r"(coords[0]), "r"(coords[1]),
      "r"(coords[2]), "r"(coords[3]), "r"(coords[4])
      : "memory");
}

// The tensor copy engine in im2col mode: `map` (an im2col map of a 5D NDHWC tensor) walks its
// pixels from the one at `coords` ({c, w, h, d, n}, in the coordinates of tap (0, 0, 0)) on, each
// shifted by `offsets` ({w, h, d}: the tap's offsets, dilation included), and writes its box of
// channels per pixel into shared memory at `dst`; the bytes complete on the barrier `bar`.
__device__ inline void tma_load_im2col_5d(void* dst, const CUtensorMap* map, uint64_t* bar,
                                          const int (&coords)[5], const uint16_t (&offsets)[3]) {
  VCONV_SM90A_ASM(
      "cp.async.bulk.tensor.5d.shared::cluster.global.im2col.mbarrier::complete_tx::bytes "
      "[%0], [%1, {%3, %4, %5, %6, %7}], [%2], {%8, %9, %10};\n" ::"r"(smem_u32(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_u32(bar)), "r"(coords[0]), "r"(coords[1]),
      "r"(coords[2]), "r"(coords[3]), "r"(coords[4]), "h"(offsets[0]), "h"(offsets[1]),
      "h"(offsets[2])
      : "memory");
}

// Warp specialization. A warpgroup gives registers back to the pool (the producer, which only
// computes addresses) or takes them (the consumers, whose accumulators need them); every warp of
// the warpgroup executes it, and the counts are multiples of 8 in [24, 256].
template <int kRegs>
__device__ inline void setmaxnreg_dec() {
  VCONV_SM90A_ASM("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
template <int kRegs>
__device__ inline void setmaxnreg_inc() {
  VCONV_SM90A_ASM("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}

// A barrier among `count` threads of the CTA (named barrier `id`, 1..15: 0 is __syncthreads).
__device__ inline void named_barrier_sync(int id, int count) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}

// Arrives once on the barrier when every cp.async this thread issued before has landed; the
// arrival is one of those the barrier was initialised to wait for (.noinc).
__device__ inline void cp_async_mbarrier_arrive(uint64_t* bar) {
  VCONV_SM90A_ASM("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(smem_u32(bar))
                  : "memory");
}

// Arrives once (release: this thread's earlier reads and writes of shared memory are ordered
// before the phase completes).
__device__ inline void mbarrier_arrive(uint64_t* bar) {
  VCONV_SM90A_ASM("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(bar)) : "memory");
}

}  // namespace vconv::cuda::implicit_gemm

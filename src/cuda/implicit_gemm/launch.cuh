#pragma once
// The launches of the implicit-GEMM kernels, per tile config: the kernel of the input type, fp32
// mode and output type, its shared memory, its grid. Defined here and instantiated per kernel
// family in its own translation unit (implicit_gemm_{multistage,sm90,sm90_ws}.cu) so that the
// families compile in parallel; launch.h declares them.
#include <algorithm>
#include <atomic>
#include <type_traits>

#include "cuda/check.h"
#include "cuda/implicit_gemm/im2col_box.h"
#include "cuda/implicit_gemm/kernel.cuh"
#include "cuda/implicit_gemm/kernel_ws.cuh"
#include "cuda/implicit_gemm/launch.h"
#include "cuda/tensor_map.h"

namespace vconv::cuda::implicit_gemm {

// Lets `kernel` take `bytes` of dynamic shared memory (above the 48 KiB default): an attribute of
// the kernel on each device, so set once per device (the first 64; `allowed`, one flag per
// device, belongs to this kernel alone) rather than on every call.
template <typename Kernel>
void allow_dynamic_smem(Kernel kernel, int bytes, std::atomic<bool> (&allowed)[64]) {
  int device = 0;
  VCONV_CUDA_CHECK(cudaGetDevice(&device));
  if (device < 64 && allowed[device].load(std::memory_order_acquire)) return;
  VCONV_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  if (device < 64) allowed[device].store(true, std::memory_order_release);
}

template <typename C, typename Mma, typename Out>
void launch(const Params& prm, cudaStream_t stream) {
  static std::atomic<bool> smem_allowed[64] = {};  // this instantiation's kernel, per device
  if constexpr (C::kWarpSpecialized) {
    auto kernel = conv_ws_kernel<C, Mma, Out>;
    allow_dynamic_smem(kernel, C::kSmemBytes, smem_allowed);
    const int64_t tiles = TileScheduler<C::kBM, C::kBN>(prm).count;
    const unsigned grid = static_cast<unsigned>(std::min<int64_t>(tiles, sm_count()));
    kernel<<<grid, C::kKernelThreads, C::kSmemBytes, stream>>>(prm);
  } else {
    auto kernel = conv_kernel<C, Mma, Out>;
    allow_dynamic_smem(kernel, C::kSmemBytes, smem_allowed);
    const dim3 grid(static_cast<unsigned>((prm.m + C::kBM - 1) / C::kBM),
                    static_cast<unsigned>((prm.geo.og + C::kBN - 1) / C::kBN),
                    static_cast<unsigned>(prm.groups));
    kernel<<<grid, C::kThreads, C::kSmemBytes, stream>>>(prm);
  }
  VCONV_CUDA_CHECK_LAUNCH();
}

// Dispatch on the input type and fp32 mode; the output is the input's type or an fp32
// accumulator.
template <typename C, bool kF32Out>
void launch_for(const ConvArgs& a, const Params& prm, cudaStream_t stream) {
  const DType t = a.problem.dtype;
  const Fp32Math math = a.options.fp32_math;
  if constexpr (C::kSwizzled && kF32Out) {
    // Only cuda_depth_tap_2d writes an fp32 buffer, through the wide tile.
    throw Error("an fp32 accumulator output runs on the mma.sync tiles only");
  } else if constexpr (C::kSwizzled) {
    // The wgmma tiles: 16-bit inputs, or fp32 as TF32 on the warp-specialized one
    // (why_not_sm90); B through the weight's tensor map.
    Params q = prm;
    q.weight_map = weight_tensor_map(a.weight, a.problem.dtype, C::kRowBytes, C::kBN);
    if constexpr (C::kWarpSpecialized) {
      if (q.im2col) {  // cuda_implicit_gemm_sm90_im2col (its why_not checked the box)
        Im2colBox box;
        const std::string why = why_not_im2col(q.geo, q.affine_taps, q.groups,
                                               dtype_size(a.problem.dtype), C::kRowBytes, box);
        if (!why.empty()) throw Error("cuda_implicit_gemm_sm90_im2col: " + why);
        q.input_map = input_im2col_map(a.input, a.problem.dtype, box, C::kRowBytes, C::kBM);
      }
    }
    if (t == DType::bf16) return launch<C, WgmmaBf16, BFloat16>(q, stream);
    if (t == DType::f16) return launch<C, WgmmaF16, Half>(q, stream);
    // fp32 as TF32 on the warp-specialized kernels only (why_not_sm90, why_not_options).
    if constexpr (C::kWarpSpecialized)
      if (t == DType::f32 && math == Fp32Math::tf32) return launch<C, WgmmaTf32, float>(q, stream);
    throw Error(std::string("cuda_implicit_gemm_sm90: no wgmma policy for ") + dtype_name(t) +
                (t == DType::f32 ? " with this kernel and fp32_math" : ""));
  } else {
    switch (t) {
      case DType::bf16:
        return launch<C, MmaBf16, std::conditional_t<kF32Out, float, BFloat16>>(prm, stream);
      case DType::f16:
        return launch<C, MmaF16, std::conditional_t<kF32Out, float, Half>>(prm, stream);
      case DType::f32:
        if (math == Fp32Math::tf32) return launch<C, MmaTf32, float>(prm, stream);
        return launch<C, MmaTf32x3, float>(prm, stream);
    }
  }
}

}  // namespace vconv::cuda::implicit_gemm

// The ordered list of algorithms the planner chooses from, in the manner of oneDNN's
// implementation lists: most specialised first, the reference last as the fallback of last resort.
// Adding an algorithm means adding it here; the planner itself does not change.
#include "core/algorithm.h"
#include "cpu/conv_depth_tap.h"
#include "cpu/conv_gemm.h"
#include "cpu/conv_pointwise.h"
#include "cpu/conv_reference.h"
#include "cpu/conv_winograd.h"
#ifdef VCONV_WITH_CUDA
#include "cuda/conv_gemm_fallback.h"
#include "cuda/conv_implicit_gemm.h"
#endif

namespace vconv {

const std::vector<const Algorithm*>& algorithms() {
  static const cpu::PointwiseAlgorithm cpu_pointwise;
  static const cpu::DepthTapAlgorithm depth_tap;
  static const cpu::WinogradAlgorithm<4> winograd_f4x3;
  static const cpu::WinogradAlgorithm<2> winograd_f2x3;
  static const cpu::GemmAlgorithm cpu_gemm;
  static const cpu::ReferenceAlgorithm reference;
#ifdef VCONV_WITH_CUDA
  static const cuda::ImplicitGemmAlgorithm cuda_implicit_gemm_sm90_ws(cuda::TileShape::sm90_ws);
  static const cuda::ImplicitGemmAlgorithm cuda_implicit_gemm_sm90_im2col(
      cuda::TileShape::sm90_im2col);
  static const cuda::ImplicitGemmAlgorithm cuda_implicit_gemm_sm90(cuda::TileShape::sm90);
  static const cuda::ImplicitGemmAlgorithm cuda_implicit_gemm(cuda::TileShape::wide);
  static const cuda::ImplicitGemmAlgorithm cuda_implicit_gemm_narrow(cuda::TileShape::narrow);
  static const cuda::DepthTap2dAlgorithm cuda_depth_tap_2d;
  static const cuda::GemmFallbackAlgorithm cuda_gemm_fallback;
#endif
  static const std::vector<const Algorithm*> list{
#ifdef VCONV_WITH_CUDA
      &cuda_implicit_gemm_sm90_ws,
      &cuda_implicit_gemm_sm90_im2col,
      &cuda_implicit_gemm_sm90,
      &cuda_implicit_gemm,
      &cuda_implicit_gemm_narrow,
      &cuda_depth_tap_2d,
      &cuda_gemm_fallback,
#endif
      &cpu_pointwise,
      &depth_tap,
      &winograd_f4x3,
      &winograd_f2x3,
      &cpu_gemm,
      &reference};
  return list;
}

}  // namespace vconv

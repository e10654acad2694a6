// The launches of the multistage wgmma kernels (cuda_implicit_gemm_sm90).
#include "cuda/implicit_gemm/launch.cuh"

namespace vconv::cuda::implicit_gemm {

VCONV_IMPLICIT_GEMM_LAUNCHES(, HopperTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(, HopperTallTile)

}  // namespace vconv::cuda::implicit_gemm

// The launches of the multistage mma.sync kernels (cuda_implicit_gemm, _narrow, cuda_depth_tap_2d).
#include "cuda/implicit_gemm/launch.cuh"

namespace vconv::cuda::implicit_gemm {

VCONV_IMPLICIT_GEMM_LAUNCHES(, WideTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(, WideShallowTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(, NarrowTile)

}  // namespace vconv::cuda::implicit_gemm

// The launches of the warp-specialized persistent kernels (cuda_implicit_gemm_sm90_ws).
#include <atomic>

#include "cuda/implicit_gemm/launch.cuh"

namespace vconv::cuda::implicit_gemm {

// Read once per device for the first 64 devices.
int sm_count() {
  static std::atomic<int> counts[64] = {};
  int device = 0;
  VCONV_CUDA_CHECK(cudaGetDevice(&device));
  int n = device < 64 ? counts[device].load(std::memory_order_relaxed) : 0;
  if (n == 0) {
    VCONV_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    if (device < 64) counts[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

VCONV_IMPLICIT_GEMM_LAUNCHES(, WsWideTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(, WsTallTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(, Ws192Tile)

}  // namespace vconv::cuda::implicit_gemm

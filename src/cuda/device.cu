// Run-time discovery of CUDA devices.
#include <cuda_runtime.h>

#include "vconv/device.h"

namespace vconv {

bool built_with_cuda() {
  return true;
}

int cuda_device_count() {
  int count = 0;
  // No driver or no GPU is not an error here: it means zero devices.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

}  // namespace vconv

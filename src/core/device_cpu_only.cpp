// Device discovery for builds without the CUDA backend (VCONV_CUDA=OFF).
#include "vconv/device.h"

namespace vconv {

bool built_with_cuda() {
  return false;
}
int cuda_device_count() {
  return 0;
}

}  // namespace vconv

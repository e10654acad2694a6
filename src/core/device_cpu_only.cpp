// Device discovery and the CUDA runtime hooks for builds without the CUDA backend (VCONV_CUDA=OFF).
#include "core/device_runtime.h"
#include "vconv/device.h"
#include "vconv/error.h"

namespace vconv {

bool built_with_cuda() {
  return false;
}
int cuda_device_count() {
  return 0;
}

namespace {
[[noreturn]] void no_cuda(Device device) {
  throw Error("device: " + device_name(device) +
              " needs the CUDA backend, and this build has none");
}
}  // namespace

std::shared_ptr<void> cuda_scratch(Device device, size_t) {
  no_cuda(device);
}
std::shared_ptr<void> cuda_contiguous_copy(Device device, void*, const void*,
                                           const std::array<int64_t, 5>&,
                                           const std::array<int64_t, 5>&, size_t) {
  no_cuda(device);
}
std::shared_ptr<void> cuda_prologue(Device device, void*, const Prologue&, const void*,
                                    const std::array<int64_t, 5>&, const std::array<int64_t, 5>&,
                                    DType) {
  no_cuda(device);
}
double cuda_time_ms(Device device, void*, const std::function<void()>&) {
  no_cuda(device);
}
std::string cuda_device_model(Device device) {
  no_cuda(device);
}

}  // namespace vconv

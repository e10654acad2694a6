// Run-time discovery of CUDA devices, and the runtime hooks of core/device_runtime.h.
#include <cuda_runtime.h>

#include <algorithm>

#include "core/device_runtime.h"
#include "cuda/check.h"
#include "cuda/device_scope.h"
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

std::shared_ptr<void> cuda_scratch(Device device, size_t bytes) {
  cuda::DeviceScope scope(device.index);
  void* p = nullptr;
  VCONV_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(bytes, 1)));
  const int index = device.index;
  return std::shared_ptr<void>(p, [index](void* q) {
    cuda::DeviceScope s(index);
    cudaFree(q);  // a deleter must not throw; a failed free leaks
  });
}

double cuda_time_ms(Device device, void* stream, const std::function<void()>& run) {
  cuda::DeviceScope scope(device.index);
  const auto s = static_cast<cudaStream_t>(stream);
  cudaEvent_t start = nullptr, stop = nullptr;
  VCONV_CUDA_CHECK(cudaEventCreate(&start));
  VCONV_CUDA_CHECK(cudaEventCreate(&stop));
  // Events are released however the runs end.
  const std::shared_ptr<void> release(nullptr, [&](void*) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  });
  run();  // warm-up
  float best = 0;
  for (int i = 0; i < 2; ++i) {
    VCONV_CUDA_CHECK(cudaEventRecord(start, s));
    run();
    VCONV_CUDA_CHECK(cudaEventRecord(stop, s));
    VCONV_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    VCONV_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    best = i == 0 ? ms : std::min(best, ms);
  }
  return best;
}

std::string cuda_device_model(Device device) {
  cudaDeviceProp prop{};
  VCONV_CUDA_CHECK(cudaGetDeviceProperties(&prop, device.index));
  return prop.name;
}

}  // namespace vconv

#include "common/device_copy.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "vconv/error.h"

#ifdef VCONV_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace vconv::testing {
namespace {

#ifdef VCONV_WITH_CUDA
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw DeviceError(std::string(what) + ": " + cudaGetErrorString(e));
}
#endif

// Keeps timing until 3 runs are done and either 20 runs or 300 ms (1 s for one slow run).
template <typename Timer>
double median_of(Timer time_one) {
  using clock = std::chrono::steady_clock;
  std::vector<double> ms;
  const auto start = clock::now();
  for (;;) {
    const auto spent = clock::now() - start;
    const bool enough = ms.size() >= 3 || (!ms.empty() && spent > std::chrono::seconds(1));
    if (enough && (ms.size() >= 20 || spent > std::chrono::milliseconds(300))) break;
    ms.push_back(time_one());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

#ifdef VCONV_WITH_CUDA
DeviceCopy::DeviceCopy(HostTensor& host, Device device) : host_(host), device_(device) {
  check(cudaSetDevice(device.index), "cudaSetDevice");
  check(cudaMalloc(&data_, host.storage_bytes()), "cudaMalloc");
  upload();
}
DeviceCopy::~DeviceCopy() {
  cudaFree(data_);
}
void DeviceCopy::upload() {
  check(cudaMemcpy(data_, host_.storage(), host_.storage_bytes(), cudaMemcpyHostToDevice),
        "upload");
}
void DeviceCopy::download() {
  check(cudaMemcpy(host_.storage(), data_, host_.storage_bytes(), cudaMemcpyDeviceToHost),
        "download");
}
void device_synchronize(Device device) {
  if (device.type == DeviceType::cuda) check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}
#else
DeviceCopy::DeviceCopy(HostTensor& host, Device device) : host_(host), device_(device) {
  throw Error("device: " + device_name(device) + " needs vconv built with VCONV_CUDA=ON");
}
DeviceCopy::~DeviceCopy() = default;
void DeviceCopy::upload() {}
void DeviceCopy::download() {}
void device_synchronize(Device) {}
#endif

TensorView DeviceCopy::view() const {
  TensorView v = host_.view();
  v.data = data_;
  v.device = device_;
  return v;
}

double median_ms(Device device, const std::function<void()>& f) {
  f();  // warm-up, apart from the timed runs
  if (device.type == DeviceType::cpu) {
    return median_of([&] {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
          .count();
    });
  }
#ifdef VCONV_WITH_CUDA
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  const double ms = median_of([&] {
    check(cudaEventRecord(start), "cudaEventRecord");
    f();
    check(cudaEventRecord(stop), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float t = 0;
    check(cudaEventElapsedTime(&t, start, stop), "cudaEventElapsedTime");
    return static_cast<double>(t);
  });
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms;
#else
  throw Error("device: " + device_name(device) + " needs vconv built with VCONV_CUDA=ON");
#endif
}

}  // namespace vconv::testing

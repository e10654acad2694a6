#pragma once
// Device copies of host tensors for tests and benchmarks: same strides, same bytes.
#include <functional>
#include <memory>

#include "common/host_tensor.h"

namespace vconv::testing {

// A device allocation holding a copy of a host tensor's storage. Without the CUDA backend,
// constructing one throws.
class DeviceCopy {
 public:
  DeviceCopy(HostTensor& host, Device device);
  ~DeviceCopy();
  DeviceCopy(const DeviceCopy&) = delete;
  DeviceCopy& operator=(const DeviceCopy&) = delete;

  TensorView view() const;  // the host tensor's view, pointing at device memory
  void upload();            // host -> device
  void download();          // device -> host

 private:
  HostTensor& host_;
  Device device_;
  void* data_ = nullptr;
};

// Waits for all work on the current device.
void device_synchronize(Device device);

// Median ms of `f` on `device` (CUDA events on the default stream; a host clock on the CPU),
// after one warm-up run.
double median_ms(Device device, const std::function<void()>& f);

}  // namespace vconv::testing

#pragma once
// Makes a device current for the lifetime of the scope and restores the caller's device after;
// stream-ordered device memory, scoped (StreamBuffer) or shared (shared_stream_buffer).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "cuda/check.h"

namespace vconv::cuda {

class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    VCONV_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) VCONV_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceScope() { cudaSetDevice(previous_); }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

// With VCONV_POISON_SCRATCH=1 in the environment (read once), new scratch is filled with 0xFF bytes
// (NaN in every float type), so that an output element computed from scratch no kernel wrote
// shows as NaN in the tests. compute-sanitizer's initcheck reports store_rows_kernel reading
// cuda_gemm_fallback's fp32 buffer, which cuBLAS wrote: the GPU tests under this variable say
// whether any element it reads was left unwritten.
inline bool poison_scratch() {
  static const bool on = [] {
    const char* v = std::getenv("VCONV_POISON_SCRATCH");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

// Stream-ordered scratch memory, freed on the same stream when the scope ends.
class StreamBuffer {
 public:
  StreamBuffer(size_t bytes, cudaStream_t stream) : stream_(stream) {
    if (!bytes) return;
    VCONV_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, stream));
    if (poison_scratch()) VCONV_CUDA_CHECK(cudaMemsetAsync(ptr_, 0xFF, bytes, stream));
  }
  ~StreamBuffer() {
    if (ptr_) cudaFreeAsync(ptr_, stream_);
  }
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;
  template <typename T>
  T* get() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

// `bytes` (at least 1) on device `index`, allocated on `stream` and freed on it, without a
// device-wide synchronisation (and legal under stream capture), when the last owner lets it go:
// buffers that outlive the function making them (conv()'s staging copies).
inline std::shared_ptr<void> shared_stream_buffer(int index, cudaStream_t stream, size_t bytes) {
  DeviceScope scope(index);
  void* p = nullptr;
  VCONV_CUDA_CHECK(cudaMallocAsync(&p, std::max<size_t>(bytes, 1), stream));
  if (poison_scratch())
    VCONV_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, std::max<size_t>(bytes, 1), stream));
  return std::shared_ptr<void>(p, [index, stream](void* q) {
    DeviceScope restore(index);
    cudaFreeAsync(q, stream);  // a deleter must not throw; a failed free leaks
  });
}

}  // namespace vconv::cuda

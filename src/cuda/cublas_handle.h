#pragma once
// One cuBLAS handle per (host thread, device), created on first use and kept: creating a handle
// costs milliseconds, and a handle must not be shared between threads.
#include <map>

#include "cuda/check.h"

namespace vconv::cuda {

inline cublasHandle_t cublas_handle(int device) {
  thread_local std::map<int, cublasHandle_t> handles;
  auto it = handles.find(device);
  if (it != handles.end()) return it->second;
  cublasHandle_t h;
  VCONV_CUBLAS_CHECK(cublasCreate(&h));
  handles[device] = h;
  return h;
}

}  // namespace vconv::cuda

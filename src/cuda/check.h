#pragma once
// Every CUDA runtime and cuBLAS call, and every launch, goes through these checks; a failure
// throws vconv::DeviceError naming the call, the error and where it happened.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "vconv/error.h"

namespace vconv::cuda {

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* call, const char* file, int line) {
  throw DeviceError(std::string("CUDA error ") + cudaGetErrorName(e) + " (" +
                    cudaGetErrorString(e) + ") in " + call + " at " + file + ":" +
                    std::to_string(line));
}

[[noreturn]] inline void throw_cublas(cublasStatus_t s, const char* call, const char* file,
                                      int line) {
  throw DeviceError(std::string("cuBLAS error ") + cublasGetStatusName(s) + " in " + call + " at " +
                    file + ":" + std::to_string(line));
}

}  // namespace vconv::cuda

#define VCONV_CUDA_CHECK(call)                                          \
  do {                                                                  \
    const cudaError_t vconv_err_ = (call);                              \
    if (vconv_err_ != cudaSuccess)                                      \
      ::vconv::cuda::throw_cuda(vconv_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here.
#define VCONV_CUDA_CHECK_LAUNCH() VCONV_CUDA_CHECK(cudaGetLastError())

#define VCONV_CUBLAS_CHECK(call)                                         \
  do {                                                                   \
    const cublasStatus_t vconv_st_ = (call);                             \
    if (vconv_st_ != CUBLAS_STATUS_SUCCESS)                              \
      ::vconv::cuda::throw_cublas(vconv_st_, #call, __FILE__, __LINE__); \
  } while (0)

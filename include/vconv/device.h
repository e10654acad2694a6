#pragma once
// What this build of vconv can run on.

namespace vconv {

// True when the library was built with its CUDA backend.
bool built_with_cuda();
// Number of CUDA devices visible at run time; 0 without the CUDA backend or without a GPU.
int cuda_device_count();

}  // namespace vconv

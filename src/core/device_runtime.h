#pragma once
// What the core needs from the CUDA backend without depending on it: scratch memory, conv()'s
// staging passes, timing (the autotuner) and a device's model (its cache key). Implemented in
// src/cuda/device.cu, strided_copy.cu and prologue.cu; in a
// build without the CUDA backend (src/core/device_cpu_only.cpp) each throws vconv::Error, and no
// CUDA device can reach them there.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "vconv/conv.h"
#include "vconv/types.h"

namespace vconv {

// `bytes` of memory on a CUDA device, freed when the last owner lets it go.
std::shared_ptr<void> cuda_scratch(Device device, size_t bytes);

// A contiguous copy of the strided 5D tensor at `data` (shape and strides in elements of
// `element_bytes`), made on `stream` of a CUDA device into memory freed on that stream with the
// last owner: conv()'s staging copy (core/staging.h).
std::shared_ptr<void> cuda_contiguous_copy(Device device, void* stream, const void* data,
                                           const std::array<int64_t, 5>& shape,
                                           const std::array<int64_t, 5>& strides,
                                           size_t element_bytes);

// x' of Options::prologue (vconv/conv.h's Prologue, validated) over the strided 5D input at
// `data`, made on `stream` of a CUDA device as a contiguous [N, D, H, W, C] tensor of `dtype`, in
// memory freed on that stream with the last owner: conv()'s prologue staging (core/staging.h).
std::shared_ptr<void> cuda_prologue(Device device, void* stream, const Prologue& prologue,
                                    const void* data, const std::array<int64_t, 5>& shape,
                                    const std::array<int64_t, 5>& strides, DType dtype);

// Milliseconds `run` takes on `stream` of a CUDA device (CUDA events): the faster of two runs
// after a warm-up run.
double cuda_time_ms(Device device, void* stream, const std::function<void()>& run);

// The model of a CUDA device, as the driver names it ("NVIDIA H100 80GB HBM3").
std::string cuda_device_model(Device device);

}  // namespace vconv

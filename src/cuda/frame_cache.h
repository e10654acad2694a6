#pragma once
// The GPU's side of a streaming causal conv (Options::frame_cache): what the implicit-GEMM
// kernels need to read cached frames, and the copy that writes the next cache. Which frame is
// read or cached has one owner, core/index_map.h (streamed_frame, next_cache_frame).
#include <string>

#include "core/algorithm.h"
#include "cuda/kernel_params.h"

namespace vconv::cuda {

// The call's `previous` frames as the kernels read them (kernel_params.h).
CachedFrames cached_frames_of(const ConvArgs& a);

// Why the implicit-GEMM kernels cannot read this call's `previous` (empty when they can): they
// address a cached pixel with the input's height and width strides and copy 16-byte chunks.
std::string why_not_frame_cache(const ConvArgs& a);

// Writes options.frame_cache.next (when it has data) on `stream`: the last F frames of
// (previous ++ input).
void write_next_frame_cache(const ConvArgs& a, cudaStream_t stream);

}  // namespace vconv::cuda

#pragma once
// The CPU's one writer of a streaming call's next frame cache (Options::frame_cache.next), shared
// by every CPU algorithm that reads a cache, so that each writes the same bytes.
#include "core/algorithm.h"
#include "core/index_map.h"

namespace vconv::cpu {

// Writes frame_cache.next: the last F frames of (previous ++ input), each chosen by
// next_cache_frame() (index_map.h), zeros where it gives none. `input` is what the conv read
// (the reference's transformed input under a prologue); `cached` is cached_frames().
void write_next_frames(const ConvArgs& a, const View5& input, const DimMap& time, int64_t cached);

}  // namespace vconv::cpu

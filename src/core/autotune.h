#pragma once
// Options::autotune: time every valid algorithm once per (problem, the options that change the
// winner: fp32_math, the epilogue's form, workspace_bytes; device) on the caller's data, keep the
// fastest in memory, and in the file named by VCONV_CACHE when that is set. The file is replaced
// atomically (a temporary file renamed over it, merged under a lock file), so threads and
// processes sharing it never see torn lines. A cache file that is corrupt, from another version,
// or names an unknown algorithm is ignored with a warning.
#include <string>

#include "core/algorithm.h"

namespace vconv {

// The algorithm to run `args.problem` with: cached, or measured now. The measurement writes only
// to scratch memory; the caller's output is untouched.
const Algorithm& autotuned_algorithm(const ConvArgs& args);

// Forgets what is cached in memory, conv()'s cached plans included (tests).
void clear_autotune_cache();

}  // namespace vconv

#pragma once
// The one staging copy conv() makes of an input or weight whose channel stride is not 1, for an
// algorithm that reads channels-last tensors only (Algorithm::reads_any_channel_stride()).
#include <memory>
#include <string>

#include "core/algorithm.h"

namespace vconv {

// Why `algorithm` needs a staging copy of these views ("the input's channel stride is 3, not 1;
// ..."), empty when it reads them as they are: the one owner of that decision.
std::string staging_reason(const Algorithm& algorithm, const View5& input, const View5& weight);

// The views an algorithm reads, copied where staging_reason() asks for it, with the buffers that
// hold the copies (alive until the run returns).
struct StagedViews {
  View5 input, weight;
  std::shared_ptr<void> input_copy, weight_copy;
};

// Copies an input or weight whose channel stride is not 1 into a contiguous channels-last buffer
// on `device` (on `stream` for a CUDA device), for every algorithm (the autotuner runs them all);
// the others stay views.
StagedViews channels_last_views(const View5& input, const View5& weight, DType dtype, Device device,
                                void* stream);

// The views `algorithm` reads: channels_last_views() where staging_reason() is not empty, else
// the views themselves.
StagedViews staged_views(const Algorithm& algorithm, const View5& input, const View5& weight,
                         DType dtype, Device device, void* stream);

}  // namespace vconv

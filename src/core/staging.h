#pragma once
// The staging passes conv() makes before an algorithm runs: one copy of an input or weight whose
// channel stride is not 1, for an algorithm that reads channels-last tensors only
// (Algorithm::reads_any_channel_stride()), and the input prologue (Options::prologue) applied in
// one pass into a contiguous input, for an algorithm that does not apply it while it reads
// (Algorithm::applies(Fusion::prologue)).
#include <memory>
#include <string>

#include "core/algorithm.h"

namespace vconv {

// Why `algorithm` needs a staging pass over these views or under this prologue ("the input's
// channel stride is 3, not 1; ..."), empty when it reads them as they are: the one owner of that
// decision.
std::string staging_reason(const Algorithm& algorithm, const View5& input, const View5& weight,
                           const Prologue& prologue);

// The views and options an algorithm runs on, with the buffers that hold staged copies (alive
// until the run returns). Once the prologue is applied into `input`, `options` is the caller's
// without it.
struct StagedViews {
  View5 input, weight;
  Options options;
  std::shared_ptr<void> input_copy, weight_copy;
};

// Every staging pass, for every algorithm (the autotuner runs them all on one staged input): an
// input or weight whose channel stride is not 1 copied into a contiguous channels-last buffer on
// `device` (on options.stream for a CUDA device), and the prologue applied into the input.
StagedViews staged_for_every_algorithm(const View5& input, const View5& weight,
                                       const Options& options, DType dtype, Device device);

// The staging passes `algorithm` needs (staging_reason()); the views and options as they are
// when it needs none.
StagedViews staged_views(const Algorithm& algorithm, const View5& input, const View5& weight,
                         const Options& options, DType dtype, Device device);

}  // namespace vconv

#include "cpu/scratch.h"

#include <algorithm>
#include <limits>

namespace vconv::cpu {

namespace {

// At least `floats` (<= kKeptFloats) floats of this thread's buffer in `slot`.
float* kept_buffer(ScratchSlot slot, int64_t floats) {
  constexpr int kSlots = static_cast<int>(ScratchSlot::weights) + 1;
  thread_local std::unique_ptr<float[]> buffers[kSlots];
  thread_local int64_t sizes[kSlots] = {};
  const int s = static_cast<int>(slot);
  if (floats > sizes[s]) {
    // The old buffer goes before the new one is allocated (the two need not coexist), and its
    // size with it: were the allocation to throw, a later call must not get the null pointer.
    sizes[s] = 0;
    buffers[s].reset();
    buffers[s].reset(new float[static_cast<size_t>(floats)]);
    sizes[s] = floats;
  }
  return buffers[s].get();
}

}  // namespace

Scratch::Scratch(ScratchSlot slot, int64_t floats) {
  if (floats > kKeptFloats) {
    own_.reset(new float[static_cast<size_t>(floats)]);
    data_ = own_.get();
  } else {
    data_ = kept_buffer(slot, floats);
  }
#ifdef VCONV_POISON_SCRATCH
  std::fill_n(data_, floats, std::numeric_limits<float>::quiet_NaN());
#endif
}

}  // namespace vconv::cpu

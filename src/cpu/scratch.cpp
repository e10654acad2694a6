#include "cpu/scratch.h"

#include <memory>

namespace vconv::cpu {

float* thread_scratch(ScratchSlot slot, int64_t floats) {
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

}  // namespace vconv::cpu

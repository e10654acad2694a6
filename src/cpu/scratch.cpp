#include "cpu/scratch.h"

#include <memory>

namespace vconv::cpu {

float* thread_scratch(ScratchSlot slot, int64_t floats) {
  constexpr int kSlots = static_cast<int>(ScratchSlot::weights) + 1;
  thread_local std::unique_ptr<float[]> buffers[kSlots];
  thread_local int64_t sizes[kSlots] = {};
  const int s = static_cast<int>(slot);
  if (floats > sizes[s]) {
    buffers[s].reset();  // before the new one: the two need not coexist
    buffers[s].reset(new float[static_cast<size_t>(floats)]);
    sizes[s] = floats;
  }
  return buffers[s].get();
}

}  // namespace vconv::cpu

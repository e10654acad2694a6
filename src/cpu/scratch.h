#pragma once
// Per-thread scratch that outlives a call: the CPU algorithms' chunk buffers (transformed tiles,
// im2col rows, staged outputs), uninitialised. Allocated and zeroed at every call, they cost
// more than the GEMM on small problems (a bf16 5x15x26 48->48 3x3x3 conv, winograd_f4x3: the
// zeroing and its page faults 12% of the run, the GEMM 9%; docs/PERFORMANCE.md). Each thread keeps
// the largest size it was asked for, per slot, until it exits.
#include <cstdint>

namespace vconv::cpu {

// One slot per buffer an algorithm holds at once; a call owns the slots while it runs on the
// thread (the CPU algorithms do not nest one run inside another's parallel region). `weights`
// holds a call's transformed weights on the calling thread, which its other threads read.
enum class ScratchSlot { first, second, third, fourth, weights };

// At least `floats` floats of this thread's scratch in `slot`, contents unspecified.
float* thread_scratch(ScratchSlot slot, int64_t floats);

}  // namespace vconv::cpu

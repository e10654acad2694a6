#pragma once
// Per-thread scratch that outlives a call: the CPU algorithms' chunk buffers (transformed tiles,
// im2col rows, staged outputs, transformed weights), uninitialised. Allocated and zeroed at every
// call, they cost more than the GEMM on small problems (a bf16 5x15x26 48->48 3x3x3 conv,
// winograd_f4x3: the zeroing and its page faults 12% of the run, the GEMM 9%;
// docs/PERFORMANCE.md). Each thread keeps, per slot, the largest buffer of at most kKeptFloats it
// was asked for, until it exits; larger ones live for the call alone, so that one large call does
// not pin its memory to every thread that ran it (Winograd's transformed weights at 8192 x 512
// under TF32 are 270 MB).
#include <cstdint>
#include <memory>

namespace vconv::cpu {

// One slot per buffer an algorithm holds at once; a call owns the slots while it runs on the
// thread (the CPU algorithms do not nest one run inside another's parallel region). `weights`
// holds a call's transformed weights on the calling thread, which its other threads read.
enum class ScratchSlot { first, second, third, fourth, weights };

// 16 MiB per slot and thread.
constexpr int64_t kKeptFloats = int64_t(1) << 22;

// This thread's scratch in `slot` for one call: at least `floats` floats, contents unspecified.
// Builds with VCONV_POISON_SCRATCH (the sanitizer build) fill it with NaN, so that a read of what
// the call did not write shows in its output.
class Scratch {
 public:
  Scratch(ScratchSlot slot, int64_t floats);
  float* get() const { return data_; }

 private:
  std::unique_ptr<float[]> own_;  // above kKeptFloats: this call's alone
  float* data_;
};

}  // namespace vconv::cpu

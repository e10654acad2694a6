// The CPU algorithms' per-thread scratch (src/cpu/scratch.h): a thread keeps buffers up to
// kKeptFloats from one call to the next, and hands larger ones to the call alone.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/scratch.h"

using vconv::cpu::kKeptFloats;
using vconv::cpu::Scratch;
using vconv::cpu::ScratchSlot;

TEST(Scratch, KeepsSmallBuffersAndReleasesLargeOnes) {
  const float* kept = Scratch(ScratchSlot::third, 1024).get();
  // A later call of at most the kept size gets the same buffer.
  EXPECT_EQ(Scratch(ScratchSlot::third, 512).get(), kept);
  {
    const Scratch large(ScratchSlot::third, kKeptFloats + 1);
    EXPECT_NE(large.get(), kept);
    large.get()[kKeptFloats] = 1.0f;  // all of it is there (ASan's build checks)
  }
  // The large call left the thread's buffer as it was.
  EXPECT_EQ(Scratch(ScratchSlot::third, 1024).get(), kept);
  // Another slot is another buffer.
  EXPECT_NE(Scratch(ScratchSlot::fourth, 1024).get(), kept);
}

// The sanitizer build (VCONV_POISON_SCRATCH) hands out NaN, so that a read of what a call did not
// write shows in its output; other builds leave scratch as it was.
TEST(Scratch, PoisonedInTheSanitizerBuild) {
#ifdef VCONV_POISON_SCRATCH
  {
    const Scratch s(ScratchSlot::first, 64);
    for (int i = 0; i < 64; ++i) s.get()[i] = 1.0f;  // a call's writes
  }
  const Scratch again(ScratchSlot::first, 64);
  for (int i = 0; i < 64; ++i) EXPECT_TRUE(std::isnan(again.get()[i])) << i;
#else
  GTEST_SKIP() << "built without VCONV_POISON_SCRATCH (the sanitizer build poisons scratch)";
#endif
}

#pragma once
// The shared-memory pipeline between the producer and the consumer warpgroups of the
// warp-specialized kernel: kStages stages, each with a `full` barrier (the consumers may read it:
// its A rows landed through the producer threads' cp.async or the tensor copy engine, and B's
// tensor copy) and an `empty` one (every consumer warp's MMAs that read it have completed), and,
// where the producer transforms a stage, a `landed` one between its copies and its transform. Both
// sides count k-blocks over the whole persistent loop: k-block i lives in stage i % kStages, and
// its round i / kStages gives the phase parity to wait for (a fresh barrier counts as having
// completed the phase before its first, so the producer's first round passes the empty barriers at
// once).
#include <cstdint>

#include "cuda/implicit_gemm/ptx_sm90.cuh"

namespace vconv::cuda::implicit_gemm {

template <int Stages>
struct Pipeline {
  // A stage's copies have landed after each producer thread's cp.async and B's tensor copy, or,
  // where A comes by the tensor copy engine too (Params::im2col), after the one thread's that
  // issues both. Where the producer transforms a stage before the consumers read it (TF32
  // rounding, round_stage in producer_sm90.cuh), the copies complete on `landed` and the stage is
  // full once each producer thread has transformed its share; else they complete on `full`.
  static constexpr int kGatherArrivals = 128 + 1;
  static constexpr int kCopyEngineArrivals = 1;
  static constexpr int kTransformArrivals = 128;
  static constexpr int kConsumerArrivals = 8;  // one per consumer warp
  uint64_t full[Stages];
  uint64_t empty[Stages];
  uint64_t landed[Stages];
  bool transform;

  __device__ void init(bool im2col, bool transform_stages) {
    transform = transform_stages;
    const uint32_t copies = im2col ? kCopyEngineArrivals : kGatherArrivals;
    for (int s = 0; s < Stages; ++s) {
      mbarrier_init(&full[s], transform ? kTransformArrivals : copies);
      mbarrier_init(&empty[s], kConsumerArrivals);
      if (transform) mbarrier_init(&landed[s], copies);
    }
    fence_mbarrier_init();
  }

  // The barriers a stage's copies complete on.
  __device__ uint64_t* copied() { return transform ? landed : full; }

  __device__ static int stage(int64_t kblock) { return static_cast<int>(kblock % Stages); }
  __device__ static uint32_t parity(int64_t kblock) {
    return static_cast<uint32_t>(kblock / Stages) & 1;
  }

  // Producer: waits until k-block `kb`'s stage is free.
  __device__ void acquire(int64_t kb) { mbarrier_wait(&empty[stage(kb)], parity(kb) ^ 1); }
  // Producer, under `transform`: waits until k-block `kb`'s copies have landed.
  __device__ void wait_landed(int64_t kb) { mbarrier_wait(&landed[stage(kb)], parity(kb)); }
  // Consumer: waits until k-block `kb`'s stage is full.
  __device__ void wait_full(int64_t kb) { mbarrier_wait(&full[stage(kb)], parity(kb)); }
  // Consumer warp: its MMAs reading k-block `kb`'s stage have completed. Lane 0 arrives for the
  // warp once every lane's wgmma of the stage has completed (wgmma_wait before the call).
  __device__ void release(int64_t kb) {
    __syncwarp();
    if (threadIdx.x % 32 == 0) mbarrier_arrive(&empty[stage(kb)]);
  }
};

}  // namespace vconv::cuda::implicit_gemm

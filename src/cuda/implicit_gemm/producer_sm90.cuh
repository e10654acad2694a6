#pragma once
// The producer warpgroup of the warp-specialized kernel: for each tile the scheduler gives this
// CTA, the row state and the depth taps that read real frames (through the index map, as the
// multistage kernels do), then every k-block of the tile into the next free stage: A gathered
// row by row with zero-filling cp.async (Mainloop::copy_a: padding in every mode, strides,
// dilation), B by the tensor copy engine (Mainloop::copy_b_tma). Each producer thread arrives on
// the stage's full barrier when its own copies have landed, so no thread waits for copies.
#include "cuda/implicit_gemm/mainloop.cuh"
#include "cuda/implicit_gemm/pipeline_sm90.cuh"
#include "cuda/implicit_gemm/tile_scheduler.cuh"

namespace vconv::cuda::implicit_gemm {

// Shared memory only the producer reads: the current tile's rows and active depth taps.
template <typename C>
struct ProducerState {
  RowInfo rows[C::kBM];
  int taps[C::kMaxSkippableTaps];
};

template <typename C, typename E>
__device__ inline void produce(const Params& p, Pipeline<C::kStages>& pipe, ProducerState<C>& state,
                               E* smem_a, E* smem_b) {
  using G = ProducerThreads;
  const TileScheduler<C::kBM, C::kBN> sched(p);
  const int cblocks = static_cast<int>((p.geo.cg + Tile<C, E>::kBK - 1) / Tile<C, E>::kBK);
  const int taps_hw = static_cast<int>(p.geo.k[1] * p.geo.k[2]);
  int64_t kb = 0;  // k-blocks loaded by this CTA so far
  for (int64_t tile = blockIdx.x; tile < sched.count; tile += gridDim.x) {
    const TileCoord t = sched.coord(tile);
    G::sync();  // every producer thread has read the previous tile's rows and taps
    init_rows<C::kBM, G>(p, t.m0, state.rows);
    const int ntaps = active_depth_taps<C, G>(p, state.rows, state.taps);
    int kblocks = ntaps * taps_hw * cblocks;
    if (ntaps == 0) {
      // Every row reads zero padding through every depth tap: one k-block whose A rows are all
      // zero-filled gives the consumers the zero tile through the same path as any other.
      if (G::index() == 0) state.taps[0] = p.kd_begin;
      G::sync();
      kblocks = 1;
    }
    Mainloop<C, E> ml{p,      state.rows, state.taps, t.g, cblocks, smem_a,
                      smem_b, t.n0,       {},         0,   {},      pipe.full};
    KBlockIter it;
    for (int i = 0; i < kblocks; ++i, ++kb) {
      pipe.acquire(kb);
      const int stage = Pipeline<C::kStages>::stage(kb);
      // Ordered before the consumers read it by the release of thread 0's arrival (copy_b_tma).
      if (G::index() == 0) pipe.last_of_tile[stage] = i == kblocks - 1;
      ml.load(stage, it);
      cp_async_mbarrier_arrive(&pipe.full[stage]);
    }
  }
  // No copy of this thread's outlives it (its copies are in no commit group: wait for all).
  cp_async_wait_all();
}

}  // namespace vconv::cuda::implicit_gemm

#pragma once
// The producer warpgroup of the warp-specialized kernel: for each tile the scheduler gives this
// CTA, the row state and the tile's work (tile_work: its depth taps through the index map, as
// the multistage kernels and the consumers compute it), then every k-block of the tile into the
// next free stage: A gathered
// row by row with zero-filling cp.async (Mainloop::copy_a: padding in every mode, strides,
// dilation), B by the tensor copy engine (Mainloop::copy_b_tma). Each producer thread arrives on
// the stage's full barrier when its own copies have landed, so no thread waits for copies.
#include "cuda/implicit_gemm/mainloop.cuh"
#include "cuda/implicit_gemm/pipeline_sm90.cuh"
#include "cuda/implicit_gemm/tile_scheduler.cuh"

namespace vconv::cuda::implicit_gemm {

// Shared memory only the producer reads: the current tile's rows.
template <typename C>
struct ProducerState {
  RowInfo rows[C::kBM];
};

template <typename C, typename E>
__device__ inline void produce(const Params& p, Pipeline<C::kStages>& pipe, ProducerState<C>& state,
                               E* smem_a, E* smem_b) {
  using G = ProducerThreads;
  const TileScheduler<C::kBM, C::kBN> sched(p);
  const int cblocks = static_cast<int>((p.geo.cg + Tile<C, E>::kBK - 1) / Tile<C, E>::kBK);
  int64_t kb = 0;  // k-blocks loaded by this CTA so far
  for (int64_t tile = blockIdx.x; tile < sched.count; tile += gridDim.x) {
    const TileCoord t = sched.coord(tile);
    G::sync();  // every producer thread has read the previous tile's rows
    init_rows<C::kBM, G>(p, t.m0, state.rows);
    const TileWork work = tile_work(p, t.m0, C::kBM, cblocks, true);
    Mainloop<C, E> ml{p, state.rows, t.g, cblocks, smem_a, smem_b, t.n0, {}, 0, {}, pipe.full};
    KBlockIter it = KBlockIter::first(work.taps);
    for (int i = 0; i < work.kblocks; ++i, ++kb) {
      pipe.acquire(kb);
      const int stage = Pipeline<C::kStages>::stage(kb);
      ml.load(stage, it);
      cp_async_mbarrier_arrive(&pipe.full[stage]);
    }
  }
  // No copy of this thread's outlives it (its copies are in no commit group: wait for all).
  cp_async_wait_all();
}

}  // namespace vconv::cuda::implicit_gemm

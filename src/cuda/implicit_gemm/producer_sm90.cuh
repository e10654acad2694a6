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

// The producer where A comes by the tensor copy engine (Params::im2col): one thread walks the
// same tiles and k-blocks (tile_work) and issues each k-block's two copies; the warpgroup's
// other threads have nothing to do. A tile's loads start at its first output position.
template <typename C, typename E>
__device__ inline void produce_im2col(const Params& p, Pipeline<C::kStages>& pipe, E* smem_a,
                                      E* smem_b) {
  const TileScheduler<C::kBM, C::kBN> sched(p);
  const int cblocks = static_cast<int>((p.geo.cg + Tile<C, E>::kBK - 1) / Tile<C, E>::kBK);
  int64_t kb = 0;  // k-blocks loaded by this CTA so far
  for (int64_t tile = blockIdx.x; tile < sched.count; tile += gridDim.x) {
    const TileCoord t = sched.coord(tile);
    const TileWork work = tile_work(p, t.m0, C::kBM, cblocks, true);
    int64_t n, od, oh, ow;
    decode_row(p.geo, t.m0, n, od, oh, ow);
    const int start[5] = {int(t.g * p.geo.cg), int(ow * p.geo.dim[2].stride - p.geo.dim[2].pad_lo),
                          int(oh * p.geo.dim[1].stride - p.geo.dim[1].pad_lo),
                          int(od * p.geo.dim[0].stride - p.geo.dim[0].pad_lo), int(n)};
    Mainloop<C, E> ml{p, nullptr, t.g, cblocks, smem_a, smem_b, t.n0, {}, 0, {}, pipe.full};
    KBlockIter it = KBlockIter::first(work.taps);
    for (int i = 0; i < work.kblocks; ++i, ++kb) {
      pipe.acquire(kb);
      ml.load_im2col(Pipeline<C::kStages>::stage(kb), it, start);
    }
  }
}

}  // namespace vconv::cuda::implicit_gemm

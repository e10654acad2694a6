#pragma once
// The producer warpgroup of the warp-specialized kernel: for each tile the scheduler gives this
// CTA, the row state and the tile's work (tile_work: its depth taps through the index map, as
// the multistage kernels and the consumers compute it), then every k-block of the tile into the
// next free stage: A gathered
// row by row with zero-filling cp.async (Mainloop::copy_a: padding in every mode, strides,
// dilation), B by the tensor copy engine (Mainloop::copy_b_tma). Each producer thread arrives on
// the stage's full barrier when its own copies have landed, so no thread waits for copies; where
// the MMA policy reads fp32 as TF32 (kRoundsToTf32), the copies land on the `landed` barrier
// instead, and the warpgroup rounds each stage's gathered A tile in place one k-block behind its
// copies (round_stage) before marking it full.
#include "cuda/implicit_gemm/mainloop.cuh"
#include "cuda/implicit_gemm/pipeline_sm90.cuh"
#include "cuda/implicit_gemm/tile_scheduler.cuh"

namespace vconv::cuda::implicit_gemm {

// Shared memory only the producer reads: the current tile's rows.
template <typename C>
struct ProducerState {
  RowInfo rows[C::kBM];
};

// Rounds k-block `kb`'s gathered A tile (every fp32 element, zero fill included) to TF32 in
// place once its copies have landed, then marks the stage full: each producer thread rounds every
// 128th 16-byte chunk, makes its writes visible to the tensor cores' (async) proxy and arrives.
// The layout does not matter to an elementwise rounding, so the swizzle is not undone. B needs
// none: the copy engine rounds what it loads (tensor maps of type TFLOAT32, tensor_map.cu).
template <typename C>
__device__ inline void round_stage(Pipeline<C::kStages>& pipe, int64_t kb, float* smem_a) {
  using T = Tile<C, float>;
  const int stage = Pipeline<C::kStages>::stage(kb);
  pipe.wait_landed(kb);
  float4* a = reinterpret_cast<float4*>(smem_a + stage * C::kBM * T::kLds);
  for (int i = threadIdx.x; i < C::kBM * C::kRowBytes / 16; i += ProducerThreads::kThreads) {
    float4 v = a[i];
    v.x = __uint_as_float(to_tf32(v.x));
    v.y = __uint_as_float(to_tf32(v.y));
    v.z = __uint_as_float(to_tf32(v.z));
    v.w = __uint_as_float(to_tf32(v.w));
    a[i] = v;
  }
  fence_proxy_async();
  mbarrier_arrive(&pipe.full[stage]);
}

// Under TF32 rounding, rounds the k-block before `kb`, one behind the copies so that those of `kb`
// fly meanwhile: called after each k-block's copies are issued, and once more after the last
// with `kb` the count of k-blocks issued.
template <typename C, typename Mma, typename E>
__device__ inline void round_behind(Pipeline<C::kStages>& pipe, int64_t kb, E* smem_a) {
  if constexpr (Mma::kRoundsToTf32)
    if (kb > 0) round_stage<C>(pipe, kb - 1, smem_a);
}

template <typename C, typename Mma>
__device__ inline void produce(const Params& p, Pipeline<C::kStages>& pipe, ProducerState<C>& state,
                               typename Mma::Element* smem_a, typename Mma::Element* smem_b) {
  using E = typename Mma::Element;
  using G = ProducerThreads;
  const TileScheduler<C::kBM, C::kBN> sched(p);
  const int cblocks = static_cast<int>((p.geo.cg + Tile<C, E>::kBK - 1) / Tile<C, E>::kBK);
  int64_t kb = 0;  // k-blocks loaded by this CTA so far
  for (int64_t tile = blockIdx.x; tile < sched.count; tile += gridDim.x) {
    const TileCoord t = sched.coord(tile);
    G::sync();  // every producer thread has read the previous tile's rows
    init_rows<C::kBM, G>(p, t.m0, state.rows);
    const TileWork work = tile_work(p, t.m0, C::kBM, cblocks, true);
    Mainloop<C, E> ml{p, state.rows, t.g, cblocks, smem_a, smem_b, t.n0, {}, 0, {}, pipe.copied()};
    KBlockIter it = KBlockIter::first(work.taps);
    for (int i = 0; i < work.kblocks; ++i, ++kb) {
      pipe.acquire(kb);
      const int stage = Pipeline<C::kStages>::stage(kb);
      ml.load(stage, it);
      cp_async_mbarrier_arrive(&pipe.copied()[stage]);
      round_behind<C, Mma>(pipe, kb, smem_a);
    }
  }
  round_behind<C, Mma>(pipe, kb, smem_a);
  // No copy of this thread's outlives it (its copies are in no commit group: wait for all).
  cp_async_wait_all();
}

// The producer where A comes by the tensor copy engine (Params::im2col): one thread walks the
// same tiles and k-blocks (tile_work) and issues each k-block's two copies (which round fp32 to
// TF32 themselves); the warpgroup's other threads have nothing to do. A tile's loads start at its
// first output position.
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

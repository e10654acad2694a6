#pragma once
// The implicit-GEMM conv kernel: assembles the mainloop's multistage pipeline and the epilogue.
// Config is the tile shape (tile_config.h), Mma the MMA policy of the input type and fp32 mode
// (ptx_sm80.cuh: mma.sync; ptx_sm90.cuh: wgmma), Out the output element type.
#include "cuda/implicit_gemm/epilogue.cuh"

namespace vconv::cuda::implicit_gemm {

template <int M, int N>
__device__ inline void zero(float (&acc)[M][N][4]) {
#pragma unroll
  for (int i = 0; i < M; ++i)
#pragma unroll
    for (int j = 0; j < N; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
}

template <typename C, typename Mma, typename Out>
__global__ void __launch_bounds__(C::kThreads, C::kMinBlocksPerSm)
    conv_kernel(const __grid_constant__ Params p) {
  using E = typename Mma::Element;
  using T = Tile<C, E>;
  static_assert(Mma::kWarpgroup == C::kSwizzled,
                "wgmma reads the swizzled layout, ldmatrix the padded");
  extern __shared__ __align__(16) unsigned char smem_base[];
  // The first stage at a kSmemAlign boundary (kSmemBytes holds the room).
  const auto base = static_cast<uint32_t>(__cvta_generic_to_shared(smem_base));
  E* smem_a =
      reinterpret_cast<E*>(smem_base + ((C::kSmemAlign - base % C::kSmemAlign) % C::kSmemAlign));
  E* smem_b = smem_a + C::kStages * C::kBM * T::kLds;

  const int64_t m0 = int64_t(blockIdx.x) * C::kBM;
  const int64_t n0 = int64_t(blockIdx.y) * C::kBN;
  const int64_t g = blockIdx.z;
  __shared__ RowInfo rows[C::kBM];
  using Cta = CtaThreads<C::kThreads>;
  init_rows<C::kBM, Cta>(p, m0, rows);
  // Swizzled (wgmma) tiles bring B with the tensor copy engine, which completes on a barrier.
  __shared__ uint64_t b_full[C::kSwizzled ? C::kStages : 1];
  if constexpr (C::kSwizzled) {
    if (threadIdx.x == 0) {
      for (int s = 0; s < C::kStages; ++s) mbarrier_init(&b_full[s], 1);
      fence_mbarrier_init();
    }
  }
  __syncthreads();
  const int cblocks = static_cast<int>((p.geo.cg + T::kBK - 1) / T::kBK);
  const TileWork work = tile_work(p, m0, C::kBM, cblocks, false);
  const int kblocks = work.kblocks;
  Mainloop<C, E> ml{p, rows, g, cblocks, smem_a, smem_b, n0, {}, 0, {}, b_full};
  if constexpr (!C::kSwizzled) ml.init_b_rows();

  // mma.sync adds to zeroed accumulators; wgmma's first k-block writes them (warpgroup_mma.cuh).
  float acc[C::kMI][C::kNI][4];
  if constexpr (!Mma::kWarpgroup) zero(acc);
  KBlockIter it = KBlockIter::first(work.taps);
#pragma unroll
  for (int st = 0; st < C::kLoadAhead; ++st) {
    if (st < kblocks) ml.load(st, it);
    cp_async_commit();
  }
  for (int kb = 0; kb < kblocks; ++kb) {
    cp_async_wait<C::kLoadAhead - 1>();
    if constexpr (Mma::kWarpgroup) fence_proxy_async();
    // Stage kb's A rows have landed for every thread; every thread's MMAs of stage
    // kb - 1 - kMmaInFlight are complete, so that stage is free for reuse.
    __syncthreads();
    const int next = kb + C::kLoadAhead;
    if (next < kblocks) ml.load(next % C::kStages, it);
    cp_async_commit();
    if constexpr (C::kSwizzled) mbarrier_wait(&b_full[kb % C::kStages], (kb / C::kStages) & 1);
    ml.template compute<Mma>(kb % C::kStages, kb == 0, acc);
  }
  if constexpr (Mma::kWarpgroup) {
    wgmma_wait<0>();
    fence_accumulators(acc[0]);
    if (kblocks == 0) zero(acc);  // every depth tap of the tile read padding
  }
  cp_async_wait<0>();
  store_tile<C, Out>(p, m0, n0, g, acc);
}

}  // namespace vconv::cuda::implicit_gemm

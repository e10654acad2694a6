#pragma once
// The warp-specialized persistent implicit-GEMM conv kernel (sm_90a): at most one CTA per SM,
// each walking its share of the output tiles (tile_scheduler.cuh). Warpgroup 0 is the producer
// (producer_sm90.cuh: gathers A through the index map, or has one thread issue A's im2col
// copies where Params::im2col, and issues B's tensor copies; rounds the A rows it gathers to TF32
// where the MMA reads fp32 as TF32, the copy engine rounding what it brings; few registers),
// warpgroups 1 and 2 the consumers (consumer_sm90.cuh: wgmma on their half of the tile's rows, then
// the epilogue), joined by the full/empty barriers of pipeline_sm90.cuh. The producer runs ahead
// into the next tile while the consumers store the last one.
#include "cuda/implicit_gemm/consumer_sm90.cuh"
#include "cuda/implicit_gemm/producer_sm90.cuh"

namespace vconv::cuda::implicit_gemm {

template <typename C, typename Mma, typename Out>
__global__ void __launch_bounds__(C::kKernelThreads, 1)
    conv_ws_kernel(const __grid_constant__ Params p) {
  using E = typename Mma::Element;
  using T = Tile<C, E>;
  extern __shared__ __align__(16) unsigned char smem_base[];
  __shared__ Pipeline<C::kStages> pipe;
  __shared__ ProducerState<C> producer_state;
  // The first stage at a kSmemAlign boundary (kSmemBytes holds the room).
  const uint32_t base = smem_u32(smem_base);
  E* smem_a =
      reinterpret_cast<E*>(smem_base + ((C::kSmemAlign - base % C::kSmemAlign) % C::kSmemAlign));
  E* smem_b = smem_a + C::kStages * C::kBM * T::kLds;
  if (threadIdx.x == 0) pipe.init(p.im2col, Mma::kRoundsToTf32 && !p.im2col);
  __syncthreads();
  if (threadIdx.x < 128) {
    setmaxnreg_dec<C::kProducerRegs>();
    if (!p.im2col)
      produce<C, Mma>(p, pipe, producer_state, smem_a, smem_b);
    else if (threadIdx.x == 0)
      produce_im2col<C, E>(p, pipe, smem_a, smem_b);
  } else {
    setmaxnreg_inc<C::kConsumerRegs>();
    consume<C, Mma, Out>(p, pipe, smem_a, smem_b);
  }
}

}  // namespace vconv::cuda::implicit_gemm

#pragma once
// The launch of the implicit-GEMM kernel of tile config C (tile_config.h) for a problem's input
// type and fp32 mode, its output the input's type or, under kF32Out, an fp32 accumulator
// (cuda_depth_tap_2d). Each config's launches are compiled in one translation unit of its kernel
// family (launch.cuh); the extern declarations keep every other unit from compiling them again.
#include <cuda_runtime.h>

#include "core/algorithm.h"
#include "cuda/implicit_gemm/params.h"
#include "cuda/implicit_gemm/tile_config.h"

namespace vconv::cuda::implicit_gemm {

template <typename C, bool kF32Out>
void launch_for(const ConvArgs& a, const Params& prm, cudaStream_t stream);

// Streaming multiprocessors of the current device (the persistent kernel's grid).
int sm_count();

#define VCONV_IMPLICIT_GEMM_LAUNCHES(prefix, Config)                                            \
  prefix template void launch_for<Config, false>(const ConvArgs&, const Params&, cudaStream_t); \
  prefix template void launch_for<Config, true>(const ConvArgs&, const Params&, cudaStream_t);
VCONV_IMPLICIT_GEMM_LAUNCHES(extern, WideTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(extern, WideShallowTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(extern, NarrowTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(extern, HopperTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(extern, HopperTallTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(extern, WsWideTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(extern, WsTallTile)
VCONV_IMPLICIT_GEMM_LAUNCHES(extern, Ws192Tile)

}  // namespace vconv::cuda::implicit_gemm

#pragma once
// The one parameter struct of the implicit-GEMM conv kernel.
#include <cuda.h>  // CUtensorMap

#include "cuda/epilogue.cuh"
#include "cuda/kernel_params.h"

namespace vconv::cuda::implicit_gemm {

struct Params {
  TensorRef in, w, out;
  Geometry geo;
  int64_t m;  // output positions: n * od * oh * ow
  int64_t groups;
  int kd_begin, kd_end;     // the depth taps summed by this launch (all, or one for depth_tap_2d)
  EpilogueParams epilogue;  // bias, activation, out += instead of out =
  CachedFrames cached;      // a streaming call's frames before the input (frame_cache.h)
  // Every dimension's map is a shifted identity (is_shifted_identity, index_map.h), at most 32
  // taps in all, and no frame cache: rows keep a base offset and a mask of the taps that read
  // the input (RowInfo::affine), so that a tap costs one offset for all rows and, per row, an
  // add, an AND and a compare.
  bool affine_taps;
  // The weight as the tensor copy engine reads it, for tiles whose B comes that way (the wgmma
  // tiles); unused by the others. The kernel takes Params as a __grid_constant__ so that the
  // copy engine can read this from the parameter space.
  CUtensorMap weight_map;
  // The warp-specialized kernel's A by the tensor copy engine in im2col mode
  // (cuda_implicit_gemm_sm90_im2col; input_im2col_map, tensor_map.h): one load per k-block
  // issued by one producer thread instead of the producer warpgroup's gather; input_map, encoded
  // by the launch, unused otherwise.
  bool im2col;
  CUtensorMap input_map;
};

}  // namespace vconv::cuda::implicit_gemm

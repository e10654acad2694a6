#pragma once
// The GPU cost model, calibrated on an H100 from `vconv bench --suite seed|vae --device cuda`
// (docs/PERFORMANCE.md): the rates each algorithm reached on 3x3x3 convs with 192-512 channels.
// To recalibrate, run tools/gpu_check.sh and set each rate to the GFLOP/s its rows print.
#include "cuda/conv_implicit_gemm.h"
#include "vconv/problem.h"
#include "vconv/types.h"

namespace vconv::cuda::cost {

constexpr double kLaunchMs = 0.005;
// cuda_implicit_gemm with full 128 x 128 tiles: 263-293 TFLOP/s in bf16, 120-126 in TF32, 47-50
// in exact fp32 (three TF32 products). The narrow 128 x 16 tile (cuda_implicit_gemm_narrow) loads
// as much A per MMA as it computes: 13.0-13.7 TFLOP/s on the 3-channel output convs, which is
// about 70 with its 16 columns full, 0.25x the wide rate (bf16; assumed the same ratio for fp32).
// cuda_implicit_gemm_sm90 (wgmma, bf16/f16 only): 400-540 TFLOP/s on the seed and vae 3x3x3
// convs with 192-512 channels, 280-330 on 3x1x1 and 1x3x3 ones (the planner's choice was the
// fastest on 12/12 vae and 3/3 seed cases with this rate).
// cuda_implicit_gemm_sm90_ws (warp-specialized, persistent), H200, 2026-12-04 (docs/PERFORMANCE.md,
// "Kernel code size and the producer"), against the multistage wgmma kernel in the same call: with
// 128 x 256 tiles (bn 256: output channels per group fill them) 1.15-1.25x its speed on the seed
// suite's 3x3x3 convs (256 and 512 channels: 4+ channel blocks per tap) and 1.35-1.8x on 3x1x1
// 384 -> 768; with 256 x 128 tiles, whose producer gathers twice the rows per k-block, 0.93-1.0x
// with 384 input channels (6 blocks) and 0.72-0.93x with 16-192. Rates on either side of the
// multistage kernel's 400 accordingly.
// row_bytes, bn: the k-block depth and width of the tile that runs `p` (with_tile in
// conv_implicit_gemm.cu).
inline double implicit_gemm_tflops(const Problem& p, Fp32Math math, TileShape shape,
                                   int64_t row_bytes, int64_t bn) {
  // The im2col variant (A by the tensor copy engine), H200, 2026-12-05 (docs/PERFORMANCE.md,
  // "A by the copy engine"): 1.02-1.43x the ws kernel's speed on 55 of the 56 seed, block_convs,
  // vae and decode_chunks rows both ran (median 1.1x; 0.87x on 96 -> 3, which the narrow kernel
  // takes), so the ws kernel's rate times 1.1: the planner takes it wherever it can run.
  // fp32 as TF32, H100, 2026-12-05 (docs/PERFORMANCE.md, "fp32 as TF32 on the wgmma kernels"):
  // the im2col kernel 240-380 TFLOP/s on 128-1024-channel convs (the copy engine rounds to TF32),
  // the ws kernel 160-260 (its producer rounds the A rows it gathers in shared memory: 0.53-0.92x
  // the im2col kernel's speed), the mma.sync kernel 110-120: half the 16-bit rates, and 1.5x for
  // the copy engine.
  if (shape == TileShape::sm90_ws || shape == TileShape::sm90_im2col) {
    const bool tf32 = p.dtype == DType::f32;
    const double copy_engine = shape == TileShape::sm90_im2col ? (tf32 ? 1.5 : 1.1) : 1.0;
    const double input = tf32 ? 0.5 : 1.0;
    const int64_t cblocks = (p.cg() * dtype_size(p.dtype) + row_bytes - 1) / row_bytes;
    if (bn == 256 && cblocks >= 4) return 480.0 * copy_engine * input;
    // The 128 x 192 tile (bn 192) is not yet measured: the tall tile's rate at its 0.75 fill of
    // 192-wide output channels, so that the planner's choices stay as measured until it is.
    return (cblocks >= 6 ? 390.0 : 300.0) * (bn == 192 ? 0.75 : 1.0) * copy_engine * input;
  }
  // The multistage wgmma kernel on time convs (3x1x1: depth taps, one spatial tap), H200,
  // 2026-12-04 (docs/PERFORMANCE.md): 61 TFLOP/s on 6x120x208 384->768, where the ws kernel
  // reached 121 and mma.sync 78; ws also faster on both 1024->2048 3x1x1 decode_chunks rows
  // (1.05-1.14x). ncu: one CTA per SM waiting on instruction fetch 68% of the time. A rate below
  // both, so that the ws kernel runs them.
  const bool time_conv = p.k[0] > 1 && p.k[1] * p.k[2] == 1;
  if (shape == TileShape::sm90) return time_conv ? 200.0 : 400.0;
  const DType t = p.dtype;
  const double wide = t != DType::f32 ? 275.0 : math == Fp32Math::tf32 ? 120.0 : 47.0;
  return shape == TileShape::narrow ? 0.25 * wide : wide;
}

// cuda_gemm_fallback end to end (im2col, cuBLAS, store): measured 18-37 TFLOP/s in bf16,
// 13-22 in exact fp32, 17-33 with TF32 with 256-512 output channels; with few output channels
// the GEMM is as slow per column as it is with 64 (0.2 TFLOP/s for 96 -> 3).
inline double fallback_ms(double flops, DType t, bool tf32, double out_channels) {
  const double tflops = t != DType::f32 ? 25.0 : tf32 ? 22.0 : 15.0;
  const double n_efficiency = out_channels >= 64 ? 1.0 : out_channels / 64.0;
  return flops / (tflops * n_efficiency * 1e9);
}

inline double memory_ms(double bytes) {
  return bytes / (2.5e12) * 1e3;
}

}  // namespace vconv::cuda::cost

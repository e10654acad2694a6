// The implicit-GEMM kernels' affine tap addressing (cuda/implicit_gemm/row_info.h), checked on
// the host where the kernels' producers run it on the GPU: for problems whose every map is a
// shifted identity, every tap of every row (and of rows past the last) reads through
// affine_source() the input element the index map names, on a padded strided input, or padding
// where the map says so; problems with another map are refused by affine_taps().
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/index_map.h"
#include "cuda/implicit_gemm/im2col_box.h"
#include "cuda/implicit_gemm/row_info.h"
#include "cuda/kernel_params.h"
#include "vconv/problem.h"

namespace {

using vconv::cuda::Geometry;
using vconv::cuda::TensorRef;
using namespace vconv::cuda::implicit_gemm;

// A channels-last input with room between rows, pixels and frames: every stride distinct.
TensorRef padded_input(const vconv::Problem& p) {
  TensorRef in{nullptr, {}};
  in.stride[4] = 1;
  in.stride[3] = p.c + 3;
  in.stride[2] = p.in[2] * in.stride[3] + 5;
  in.stride[1] = p.in[1] * in.stride[2] + 7;
  in.stride[0] = p.in[0] * in.stride[1] + 11;
  return in;
}

TEST(AffineTaps, EveryTapOfEveryRowReadsWhatTheIndexMapSays) {
  const char* problems[] = {
      "bf16 n=2 in=5x6x7 c=8 o=8 k=3x3x3 p=1",
      "bf16 n=1 in=6x5x9 c=8 o=8 k=3x3x3 p=2:0x1x1",  // Wan's causal padding
      "bf16 n=2 in=7x9x8 c=8 o=8 k=3x3x3 s=2 p=1 kd=2x1x2",
      "bf16 in=4x6x5 c=8 o=16 k=3x1x1 p=2:0x0x0",  // a time conv
      "bf16 n=3 in=9x10 c=8 o=8 k=3x3 p=1",
      "bf16 in=12 c=8 o=8 k=5 s=3 p=3:-1",      // cropped on the right
      "bf16 in=3x8x8 c=8 o=8 k=3x5x5 p=4x3x1",  // padding past what any tap reaches
      "bf16 in=2x17x16 c=8 o=8 k=2x15x15 p=1",  // 32 taps over the three dimensions: every bit
  };
  int64_t checked = 0, valid = 0;
  for (const char* text : problems) {
    SCOPED_TRACE(text);
    const vconv::Problem p = vconv::parse_problem(text);
    const Geometry geo = vconv::cuda::geometry(p);
    ASSERT_TRUE(affine_taps(geo, 0));
    EXPECT_FALSE(affine_taps(geo, 2)) << "a frame cache is read through the map";
    const TensorRef in = padded_input(p);
    const int64_t m = p.n * p.out[0] * p.out[1] * p.out[2];
    for (int64_t row = 0; row < m + 3; ++row) {
      const RowInfo ri = row_info(geo, in, m, true, row);
      int64_t n = 0, o[3] = {0, 0, 0};
      if (row < m) vconv::cuda::decode_row(geo, row, n, o[0], o[1], o[2]);
      for (int kd = 0; kd < geo.k[0]; ++kd)
        for (int kh = 0; kh < geo.k[1]; ++kh)
          for (int kw = 0; kw < geo.k[2]; ++kw) {
            const int tap[3] = {kd, kh, kw};
            bool expect_valid = row < m;
            int64_t expect_offset = n * in.stride[0];
            for (int d = 0; d < 3; ++d) {
              const int64_t i = vconv::source_index(geo.dim[d], o[d], tap[d]);
              expect_valid = expect_valid && i >= 0;
              expect_offset += i * in.stride[d + 1];
            }
            const AffineSource s = affine_source(ri, geo, in, kd, kh, kw);
            ASSERT_EQ(s.valid, expect_valid) << "row " << row << " tap " << kd << kh << kw;
            if (expect_valid)
              ASSERT_EQ(s.offset, expect_offset) << "row " << row << " tap " << kd << kh << kw;
            ++checked;
            valid += expect_valid;
          }
    }
  }
  EXPECT_GT(valid, 0);
  EXPECT_GT(checked - valid, 0);  // padding and rows past the last were reached
}

TEST(AffineTaps, OtherMapsAreReadThroughTheIndexMap) {
  for (const char* text : {"bf16 in=4x6x7 c=8 o=8 k=3x3x3 p=1 pm=replicate",
                           "bf16 in=4x6x7 c=8 o=8 k=3x3x3 p=1 pm=reflect",
                           "bf16 in=4x6x7 c=8 o=8 k=1x3x3 p=0x1x1 up=1x2x2",
                           "bf16 in=4x6x7 c=8 o=8 k=3x3x3 p=2:0x1x1 up=2x2x2 causal_up",
                           "bf16 in=4x6x7 c=8 o=8 k=3x3x3 id=1x2x2", "bf16 in=40 c=8 o=8 k=33",
                           "bf16 in=3x16x16 c=8 o=8 k=3x15x15"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(affine_taps(vconv::cuda::geometry(vconv::parse_problem(text)), 0));
  }
}

// cuda_implicit_gemm_sm90_im2col's box (implicit_gemm/im2col_box.h): per dimension, the
// sources of tap 0's output positions are exactly the box's positions stepped by the stride,
// [lower, in - 1 + upper]; refused for what the copy engine cannot walk.
TEST(Im2colBox, HoldsExactlyTheOutputPositions) {
  for (const char* text :
       {"bf16 in=5x12x20 c=64 o=128 k=3x3x3 p=1", "bf16 in=9x10x14 c=8 o=40 k=3x3x3 p=2:0x1x1",
        "bf16 in=7x16x17 c=64 o=64 k=3x3x3 s=1x2x2 p=1",
        "bf16 in=8x12x12 c=48 o=16 k=3x3x3 kd=2x1x2 p=2x1x2",
        "bf16 in=3x16x16 c=64 o=128 k=3x3x3 p=4:0x1x1", "bf16 in=12 c=8 o=8 k=5 s=3 p=3:-1"}) {
    SCOPED_TRACE(text);
    const vconv::Problem p = vconv::parse_problem(text);
    const Geometry geo = vconv::cuda::geometry(p);
    Im2colBox box;
    ASSERT_EQ(why_not_im2col(geo, affine_taps(geo, 0), p.groups, 2, 128, box), "");
    for (int i = 0; i < 3; ++i) {
      const vconv::DimMap& d = geo.dim[2 - i];
      const int64_t first = box.lower[i], last = d.in - 1 + box.upper[i];
      EXPECT_EQ(first, -d.pad_lo) << "dim " << i;  // output position 0's source
      EXPECT_EQ((last - first) / int64_t(box.stride[i]) + 1, geo.out[2 - i]) << "dim " << i;
      EXPECT_EQ((last - first) % int64_t(box.stride[i]), 0) << "dim " << i;
    }
  }
  Im2colBox box;
  for (const char* text : {"bf16 in=4x6x7 c=64 o=64 k=3x3x3 p=1 pm=replicate",
                           "bf16 in=4x6x7 c=64 o=64 k=1x3x3 p=0x1x1 up=1x2x2",
                           "bf16 n=3 in=4x6x7 c=64 o=96 k=2x3x3 g=2 p=1:0x0x1",
                           "bf16 in=4x40x40 c=64 o=64 k=3x3x3 p=1x17x1",
                           "bf16 in=4x40x40 c=64 o=64 k=1x3x3 s=1x9x1 p=0x1x1",
                           "bf16 in=4x40x40 c=64 o=64 k=1x3x3 kd=1x16x16 p=0x16x16"}) {
    SCOPED_TRACE(text);
    const vconv::Problem p = vconv::parse_problem(text);
    const Geometry geo = vconv::cuda::geometry(p);
    EXPECT_NE(why_not_im2col(geo, affine_taps(geo, 0), p.groups, 2, 128, box), "");
  }
}

}  // namespace

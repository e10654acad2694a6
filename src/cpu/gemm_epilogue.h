#pragma once
// Writes fp32 GEMM results (one row per output position, `cols` output channels from channel
// `o0`) to the output view, on the calling thread: the fused epilogue applied, cast to the output
// dtype, accumulating when asked.
#include "core/row_grid.h"
#include "cpu/epilogue.h"

namespace vconv::cpu {

inline void store_rows(const RowGrid& grid, int64_t r0, int64_t r1, const float* buf, int64_t ldb,
                       const View5& out, DType out_dtype, int64_t o0, int64_t cols, bool accumulate,
                       const LoadedEpilogue& epilogue) {
  for (int64_t r = r0; r < r1; ++r) {
    const auto c = grid.coord(r);
    store_f32(out_dtype, buf + (r - r0) * ldb, cols,
              byte_ptr(out.data, out.offset(c[0], c[1], c[2], c[3], o0), out_dtype), accumulate,
              epilogue.at(c[0], c[1], c[2], c[3], o0));
  }
}

}  // namespace vconv::cpu

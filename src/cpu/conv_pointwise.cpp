#include "cpu/conv_pointwise.h"

#include <algorithm>
#include <vector>

#include "cpu/cost_model.h"
#include "cpu/gemm_epilogue.h"
#include "cpu/packed_gemm.h"
#include "cpu/scratch.h"

namespace vconv::cpu {
namespace {

// Rows per chunk: about this many bytes of input and output rows (256 KiB-1 MiB measured alike at
// 1 and 2 threads, 512 KiB best; docs/PERFORMANCE.md), so that a frame of a few
// thousand pixels splits into chunks for every thread even when N * groups = 1, and no fewer
// rows than kMinChunkRows, below which the SGEMM calls get too small to run at full rate.
constexpr int64_t kChunkBytes = int64_t{512} << 10;
constexpr int64_t kMinChunkRows = 64;

}  // namespace

std::string PointwiseAlgorithm::why_not(const Problem& p, Device device) const {
  if (device.type != DeviceType::cpu) return "runs on the CPU only";
  for (int i = 0; i < 3; ++i) {
    if (p.k[i] != 1) return "needs a 1x1x1 kernel";
    if (p.stride[i] != 1 || p.idil[i] != 1) return "needs stride 1 and input dilation 1";
    if (p.pad_lo[i] != 0 || p.pad_hi[i] != 0) return "needs no padding";
  }
  return {};
}

double PointwiseAlgorithm::estimate_ms(const Problem& p, Device, const Options&) const {
  const double pixels = static_cast<double>(p.n * p.in[0] * p.in[1] * p.in[2]);
  // fp32 inputs are read in place; others are widened first.
  return cost::gemm_ms(p.flops(), static_cast<double>(p.og())) +
         (p.dtype == DType::f32 ? 0.0 : cost::gather_ms(pixels * p.c * 4.0, p.dtype));
}

void PointwiseAlgorithm::run(const ConvArgs& a) const {
  const Problem& p = a.problem;
  const int64_t frame_rows = p.in[0] * p.in[1] * p.in[2];
  const RowGrid grid = RowGrid::whole(p);
  const bool in_place = p.dtype == DType::f32 && rows_uniform(a.input);
  // The GEMM writes the output itself only where no epilogue has to pass between them.
  const bool direct =
      a.output_dtype == DType::f32 && rows_uniform(a.output) && a.options.epilogue.empty();
  const LoadedEpilogue epilogue(a.options.epilogue);
  // Chunks never cross a batch index, so each has one leading dimension per operand; the chunks of
  // a frame are of about equal size, for an even share between threads, and a multiple of the
  // GEMM kernels' rows but the last. Results do not depend on the chunks (each output is one sum
  // over the channels in a fixed order, packed_gemm.h).
  const int64_t max_rows =
      std::min(frame_rows, std::max(kMinChunkRows, kChunkBytes / ((p.cg() + p.og()) * 4)));
  const int64_t per_frame = (frame_rows + max_rows - 1) / max_rows;
  const int64_t even = (frame_rows + per_frame - 1) / per_frame;
  const int64_t chunk = std::min(frame_rows, (even + kBlockRows - 1) / kBlockRows * kBlockRows);
  struct Chunk {
    int64_t g, r0, r1;
  };
  std::vector<Chunk> chunks;
  for (int64_t g = 0; g < p.groups; ++g)
    for (int64_t n = 0; n < p.n; ++n)
      for (int64_t r0 = n * frame_rows; r0 < (n + 1) * frame_rows; r0 += chunk)
        chunks.push_back({g, r0, std::min((n + 1) * frame_rows, r0 + chunk)});
  // W^T per group ([cg, og]), packed for the GEMM: column oo of W^T is W's row oo, written
  // straight into the packing (a transpose, then pack_b, cost 0.4 ms of 7 on 9x32x32 256->256).
  // The last panel's columns past og stay zero.
  std::vector<std::vector<float>> weights(static_cast<size_t>(p.groups));
  std::vector<float> run(static_cast<size_t>(p.cg()));
  for (int64_t g = 0; g < p.groups; ++g) {
    weights[g].resize(static_cast<size_t>(packed_b_floats(p.cg(), p.og())));
    for (int64_t oo = 0; oo < p.og(); ++oo) {
      load_f32(p.dtype,
               byte_ptr(a.weight.data, a.weight.offset(g * p.og() + oo, 0, 0, 0, 0), p.dtype),
               p.cg(), run.data());
      for (int64_t ci = 0; ci < p.cg(); ++ci) weights[g][packed_b_offset(p.cg(), ci, oo)] = run[ci];
    }
  }
  // Before the parallel region: an unusable VCONV_CPU_GEMM_KERNEL throws here, to the caller.
  const GemmKernel kernel = default_gemm_kernel();
#pragma omp parallel
  {
    const Scratch in_buffer(ScratchSlot::first, in_place ? 0 : chunk * p.cg());
    const Scratch out_buffer(ScratchSlot::second, direct ? 0 : chunk * p.og());
    float* in = in_place ? nullptr : in_buffer.get();
    float* out = direct ? nullptr : out_buffer.get();
#pragma omp for schedule(dynamic)
    for (size_t i = 0; i < chunks.size(); ++i) {
      const auto [g, r0, r1] = chunks[i];
      const int64_t rows = r1 - r0;
      const auto c0 = grid.coord(r0);
      const float* A = nullptr;
      int64_t lda = p.cg();
      if (in_place) {
        A = static_cast<const float*>(a.input.data) +
            a.input.offset(c0[0], c0[1], c0[2], c0[3], g * p.cg());
        lda = a.input.strides[3];
      } else {
        for (int64_t r = r0; r < r1; ++r) {
          const auto c = grid.coord(r);
          load_f32(
              p.dtype,
              byte_ptr(a.input.data, a.input.offset(c[0], c[1], c[2], c[3], g * p.cg()), p.dtype),
              p.cg(), in + (r - r0) * p.cg());
        }
        A = in;
      }
      if (direct) {
        float* C = static_cast<float*>(a.output.data) +
                   a.output.offset(c0[0], c0[1], c0[2], c0[3], g * p.og());
        gemm_packed_b(rows, p.og(), p.cg(), A, lda, weights[g].data(), C, a.output.strides[3],
                      a.options.accumulate, kernel);
      } else {
        gemm_packed_b(rows, p.og(), p.cg(), A, lda, weights[g].data(), out, p.og(), false, kernel);
        store_rows(grid, r0, r1, out, p.og(), a.output, a.output_dtype, g * p.og(), p.og(),
                   a.options.accumulate, epilogue);
      }
    }
  }
}

}  // namespace vconv::cpu

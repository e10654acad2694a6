#include "cpu/conv_gemm.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/index_map.h"
#include "core/stride_phase.h"
#include "cpu/cost_model.h"
#include "cpu/gemm_epilogue.h"
#include "cpu/packed_gemm.h"
#include "cpu/scratch.h"

namespace vconv::cpu {
namespace {

constexpr int64_t kChunkBytes = int64_t{1} << 20;

// Weight rows (tap, ci) x columns (output channel of group g), mirrored under flip, written
// straight into the GEMM's packing (packed_b_offset): a transpose first, then pack_b, cost
// pointwise convs 0.4 ms of 7 (9x32x32 256->256).
std::vector<float> pack_weight(const ConvArgs& a, const Phase& ph, int64_t g) {
  const Problem& p = a.problem;
  const int64_t rows = ph.tap_count() * p.cg();
  // Columns of the last panel past og stay zero.
  std::vector<float> packed(static_cast<size_t>(packed_b_floats(rows, p.og())));
  std::vector<float> run(static_cast<size_t>(p.cg()));
  int64_t t = 0;
  for (int64_t jd = 0; jd < ph.taps[0].count; ++jd)
    for (int64_t jh = 0; jh < ph.taps[1].count; ++jh)
      for (int64_t jw = 0; jw < ph.taps[2].count; ++jw) {
        const int64_t kd = ph.taps[0].at(jd), kh = ph.taps[1].at(jh), kw = ph.taps[2].at(jw);
        const int64_t wd = p.flip ? p.k[0] - 1 - kd : kd;
        const int64_t wh = p.flip ? p.k[1] - 1 - kh : kh;
        const int64_t ww = p.flip ? p.k[2] - 1 - kw : kw;
        for (int64_t oo = 0; oo < p.og(); ++oo) {
          load_f32(
              p.dtype,
              byte_ptr(a.weight.data, a.weight.offset(g * p.og() + oo, wd, wh, ww, 0), p.dtype),
              p.cg(), run.data());
          for (int64_t ci = 0; ci < p.cg(); ++ci)
            packed[packed_b_offset(rows, t * p.cg() + ci, oo)] = run[ci];
        }
        ++t;
      }
  return packed;
}

// Rows [r0, r1) of the phase's im2col matrix for group g, row-major with `cols` columns.
void im2col(const ConvArgs& a, const Phase& ph, int64_t g, int64_t r0, int64_t r1, float* col,
            int64_t cols) {
  const Problem& p = a.problem;
  DimMap dim[3];
  for (int i = 0; i < 3; ++i)
    dim[i] = DimMap{p.in[i], p.stride[i], p.pad_lo[i], p.kdil[i], p.idil[i], p.mode[i]};
  for (int64_t r = r0; r < r1; ++r) {
    const auto c = ph.rows.coord(r);
    float* dst = col + (r - r0) * cols;
    for (int64_t jd = 0; jd < ph.taps[0].count; ++jd) {
      const int64_t kd = ph.taps[0].at(jd);
      const int64_t id = source_index(dim[0], c[1], kd);
      for (int64_t jh = 0; jh < ph.taps[1].count; ++jh) {
        const int64_t kh = ph.taps[1].at(jh);
        const int64_t ih = source_index(dim[1], c[2], kh);
        for (int64_t jw = 0; jw < ph.taps[2].count; ++jw) {
          const int64_t kw = ph.taps[2].at(jw);
          const int64_t iw = source_index(dim[2], c[3], kw);
          if (id < 0 || ih < 0 || iw < 0) {
            std::fill(dst, dst + p.cg(), 0.0f);
          } else {
            load_f32(p.dtype,
                     byte_ptr(a.input.data, a.input.offset(c[0], id, ih, iw, g * p.cg()), p.dtype),
                     p.cg(), dst);
          }
          dst += p.cg();
        }
      }
    }
  }
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// The most rows of a chunk: its im2col block (and, unless the GEMM writes the output directly, its
// fp32 result) within about kChunkBytes or the workspace, so that it stays in a thread's cache
// between its writing and the GEMM. Depends on the problem only, so the results do not depend on
// the thread count.
int64_t max_chunk_rows(int64_t segment, int64_t cols, bool direct, const Problem& p,
                       const Options& options) {
  const int64_t row_bytes = (cols + (direct ? 0 : p.og())) * 4;
  const int64_t budget = std::min(options.workspace_bytes, kChunkBytes);
  return std::max<int64_t>(1, std::min(segment, budget / row_bytes));
}

}  // namespace

int64_t gemm_macs(const Problem& p) {
  int64_t macs = 0;
  for (const Phase& ph : stride_phases(p)) macs += ph.rows.size() * ph.tap_count();
  return macs * p.cg() * p.o;
}

std::string GemmAlgorithm::why_not(const Problem&, Device device) const {
  if (device.type != DeviceType::cpu) return "runs on the CPU only";
  return {};
}

double GemmAlgorithm::estimate_ms(const Problem& p, Device, const Options& options) const {
  const int64_t taps = p.k[0] * p.k[1] * p.k[2], frame_rows = p.out[0] * p.out[1] * p.out[2];
  const double k = static_cast<double>(taps * p.cg());
  const double rows = static_cast<double>(p.n * frame_rows);
  // The chunks of all groups share the threads; a contiguous fp32 output taken as the GEMM's
  // (direct) and the stride phases ignored (input dilation splits rows and taps alike).
  const bool direct = p.dtype == DType::f32;
  const int64_t segment = direct ? frame_rows : p.n * frame_rows;
  const int64_t per_segment =
      ceil_div(segment, max_chunk_rows(segment, taps * p.cg(), direct, p, options));
  const double balance =
      cost::thread_balance(rows * p.groups, static_cast<double>(ceil_div(segment, per_segment)));
  // GEMM arithmetic, plus gathering the im2col matrix.
  return (cost::gemm_ms(2.0 * static_cast<double>(gemm_macs(p)), static_cast<double>(p.og())) +
          cost::gather_ms(rows * k * 4.0 * p.groups, p.dtype)) *
         balance;
}

void GemmAlgorithm::run(const ConvArgs& a) const {
  const Problem& p = a.problem;
  const int64_t frame_rows = p.out[0] * p.out[1] * p.out[2];
  const LoadedEpilogue epilogue(a.options.epilogue);
  for (const Phase& ph : stride_phases(p)) {
    const int64_t cols = ph.tap_count() * p.cg();
    const int64_t total = ph.rows.size();
    if (total == 0) continue;  // a stride phase no output position falls in
    // fp32 output whose rows lie at one stride: the GEMM writes (or, with beta = 1, accumulates
    // into) the output itself, unless an epilogue has to pass between them. Otherwise it writes a
    // buffer that store_rows casts.
    const bool direct = a.output_dtype == DType::f32 && total == p.n * frame_rows &&
                        rows_uniform(a.output) && cols > 0 && a.options.epilogue.empty();
    // A direct chunk stays within one batch index. Chunks of a segment are of equal size, for an
    // even share between threads.
    const int64_t segment = direct ? frame_rows : total;
    const int64_t per_segment =
        ceil_div(segment, max_chunk_rows(segment, cols, direct, p, a.options));
    const int64_t chunk = ceil_div(segment, per_segment);
    struct Chunk {
      int64_t g, r0, r1;
    };
    std::vector<Chunk> chunks;
    for (int64_t g = 0; g < p.groups; ++g)
      for (int64_t s0 = 0; s0 < total; s0 += segment)
        for (int64_t r0 = s0; r0 < s0 + segment; r0 += chunk)
          chunks.push_back({g, r0, std::min(s0 + segment, r0 + chunk)});
    std::vector<std::vector<float>> weights;
    for (int64_t g = 0; g < p.groups; ++g) weights.push_back(pack_weight(a, ph, g));

    // Before the parallel region: an unusable VCONV_CPU_GEMM_KERNEL throws here, to the caller.
    const GemmKernel kernel = default_gemm_kernel();
#pragma omp parallel
    {
      const Scratch col_buffer(ScratchSlot::first, chunk * cols);
      const Scratch out_buffer(ScratchSlot::second, direct ? 0 : chunk * p.og());
      float* col = col_buffer.get();
      float* out = direct ? nullptr : out_buffer.get();
#pragma omp for schedule(dynamic)
      for (size_t i = 0; i < chunks.size(); ++i) {
        const auto [g, r0, r1] = chunks[i];
        const float* w = weights[g].data();
        if (cols > 0) im2col(a, ph, g, r0, r1, col, cols);
        if (direct) {
          const auto c = ph.rows.coord(r0);
          float* dst = static_cast<float*>(a.output.data) +
                       a.output.offset(c[0], c[1], c[2], c[3], g * p.og());
          gemm_packed_b(r1 - r0, p.og(), cols, col, cols, w, dst, a.output.strides[3],
                        a.options.accumulate, kernel);
          continue;
        }
        if (cols > 0) {
          gemm_packed_b(r1 - r0, p.og(), cols, col, cols, w, out, p.og(), false, kernel);
        } else {
          std::fill(out, out + (r1 - r0) * p.og(), 0.0f);  // every tap of this phase reads a zero
        }
        store_rows(ph.rows, r0, r1, out, p.og(), a.output, a.output_dtype, g * p.og(), p.og(),
                   a.options.accumulate, epilogue);
      }
    }
  }
}

}  // namespace vconv::cpu

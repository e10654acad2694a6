#include "cpu/conv_winograd.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/index_map.h"
#include "cpu/convert.h"
#include "cpu/cost_model.h"
#include "cpu/epilogue.h"
#include "cpu/isa_clones.h"
#include "cpu/packed_gemm.h"
#include "cpu/scratch.h"
#include "cpu/winograd_tile.h"
#include "cpu/winograd_transforms.h"

namespace vconv::cpu {
namespace {

// Transformed tiles of one chunk (input and GEMM result) stay within about this many bytes.
constexpr int64_t kChunkBytes = int64_t{256} << 10;
// The longest reduction (KD * C/groups, the 3x3 taps not counted) taken for fp32 inputs, per tile
// size and accepted error (docs/PERFORMANCE.md, "Accuracy"). Under fp32_math = exact, F(2x2)'s
// largest elementwise error on unit-normal inputs is 0.68x MLX's atol = rtol = 1e-4 at 256 and
// 1.8x at 512; under tf32 the budget is 1e-5 of the norm (F(4x4): 7e-6 at 1536).
template <int M>
constexpr int64_t kMaxF32ReductionFor(Fp32Math math) {
  if (math == Fp32Math::exact) return 256;  // F(2x2) only: F(4x4) needs tf32
  return M == 4 ? 1536 : 8192;
}

struct Tiles {
  int64_t th, tw, count;  // tiles per column, per row, in all (over N * OD frames)
};

template <int M>
Tiles tiles_of(const Problem& p) {
  const int64_t th = (p.out[1] + M - 1) / M, tw = (p.out[2] + M - 1) / M;
  return {th, tw, p.n * p.out[0] * th * tw};
}

// Tiles per chunk: such that a chunk's transformed tiles stay within about kChunkBytes, at least
// 36, and a multiple of kBlockRows, the GEMM kernels' rows per block (results do not depend on it:
// each output is one sum over the reduction in a fixed order however the tiles are chunked).
template <int M>
int64_t tiles_per_chunk(const Problem& p, const Tiles& tiles) {
  constexpr int64_t A = WinogradF3<M>::kAlpha;
  const int64_t bytes_per_tile = A * A * (p.k[0] * p.cg() + p.og()) * 4;
  const int64_t rows =
      std::max<int64_t>(36, kChunkBytes / bytes_per_tile) / kBlockRows * kBlockRows;
  return std::min(tiles.count, rows);
}

// U[a][kd * cg + ci][o] = (G g G^T)[a] for each depth tap kd and (ci, o) of group g: the depth
// taps are stacked along the GEMM's K dimension. The kernel is mirrored under flip (depth too).
// Written packed for the GEMM into `u`: alpha^2 matrices of packed_b_floats(kdim, og) floats.
template <int M>
void transform_weight(const ConvArgs& a, int64_t g, float* u) {
  using W = WinogradF3<M>;
  constexpr int A = W::kAlpha;
  const Problem& p = a.problem;
  const int64_t kdim = p.k[0] * p.cg(), packed = packed_b_floats(kdim, p.og());
  // The last panel's columns past og: zeros.
  for (int e = 0; e < A * A; ++e)
    for (int64_t k = 0; k < kdim; ++k)
      for (int64_t o = p.og(); o % kPanelWidth != 0; ++o)
        u[e * packed + packed_b_offset(kdim, k, o)] = 0.0f;
#pragma omp parallel
  {
    std::vector<float> taps(static_cast<size_t>(9 * p.cg()));
    // Each (kd, oo) writes its own entries of u: threads share the work without changing a bit.
#pragma omp for collapse(2) schedule(static)
    for (int64_t kd = 0; kd < p.k[0]; ++kd)
      for (int64_t oo = 0; oo < p.og(); ++oo) {
        const int64_t wd = p.flip ? p.k[0] - 1 - kd : kd;
        for (int kh = 0; kh < 3; ++kh)
          for (int kw = 0; kw < 3; ++kw) {
            const int wh = p.flip ? 2 - kh : kh, ww = p.flip ? 2 - kw : kw;
            load_f32(
                p.dtype,
                byte_ptr(a.weight.data, a.weight.offset(g * p.og() + oo, wd, wh, ww, 0), p.dtype),
                p.cg(), taps.data() + (kh * 3 + kw) * p.cg());
          }
        for (int64_t ci = 0; ci < p.cg(); ++ci) {
          float gk[A][3];  // G g
          for (int i = 0; i < A; ++i)
            for (int l = 0; l < 3; ++l) {
              float s = 0;
              for (int kk = 0; kk < 3; ++kk) s += W::G[i][kk] * taps[(kk * 3 + l) * p.cg() + ci];
              gk[i][l] = s;
            }
          for (int i = 0; i < A; ++i)
            for (int j = 0; j < A; ++j) {
              float s = 0;
              for (int l = 0; l < 3; ++l) s += gk[i][l] * W::G[j][l];
              u[(i * A + j) * packed + packed_b_offset(kdim, kd * p.cg() + ci, oo)] = s;
            }
        }
      }
  }
}

template <int M>
struct TileContext {
  const ConvArgs& a;
  Tiles tiles;
  DimMap dim[3];
  int64_t g;
  const LoadedEpilogue& epilogue;  // of the whole output

  // (n, od, oh0, ow0) of tile t.
  // Tiles are ordered (n, th, tw, od) with the output frame innermost, so that consecutive tiles
  // read overlapping input frames through their depth taps and can share transformed patches.
  std::array<int64_t, 4> origin(int64_t t) const {
    const Problem& p = a.problem;
    const int64_t od = t % p.out[0], pos = t / p.out[0];
    const int64_t tw = pos % tiles.tw, th = pos / tiles.tw % tiles.th;
    return {pos / (tiles.tw * tiles.th), od, th * M, tw * M};
  }

  // The input frame depth tap kd of tile t reads (-1: zero padding).
  int64_t frame_of(int64_t t, int64_t kd) const {
    return source_index(dim[0], t % a.problem.out[0], kd);
  }

  // v[a][c] (stride ldv between a) = B^T d B of tile t's alpha x alpha input patch in the frame
  // that depth tap kd reads. fp32 pixels are read in place; others are widened into `patch`
  // (alpha^2 pixels), after which lie cg zeros that stand for padding.
  VCONV_ISA_CLONES
  void input_transform(int64_t t, int64_t kd, float* patch, float* v, int64_t ldv) const {
    using W = WinogradF3<M>;
    constexpr int A = W::kAlpha;
    const Problem& p = a.problem;
    const int64_t cg = p.cg();
    const auto o = origin(t);
    const int64_t id = source_index(dim[0], o[1], kd);
    if (id < 0) {  // the tap lands in zero padding: its transformed patch is zero
      for (int e = 0; e < A * A; ++e) std::fill(v + e * ldv, v + e * ldv + cg, 0.0f);
      return;
    }
    const float* zeros = patch + A * A * cg;
    // Patch rows/columns past the last valid output + 2 feed no output: read as zero rather
    // than outside the padded input.
    const int64_t rows = std::min<int64_t>(M, p.out[1] - o[2]) + 2;
    const int64_t cols = std::min<int64_t>(M, p.out[2] - o[3]) + 2;
    const float* src[A * A];
    float* dst[A * A];
    for (int i = 0; i < A; ++i) {
      const int64_t ih = i < rows ? source_index(dim[1], o[2], i) : -1;
      for (int j = 0; j < A; ++j) {
        const int64_t iw = j < cols ? source_index(dim[2], o[3], j) : -1;
        dst[i * A + j] = v + (i * A + j) * ldv;
        if (ih < 0 || iw < 0) {
          src[i * A + j] = zeros;
          continue;
        }
        const void* pixel =
            byte_ptr(a.input.data, a.input.offset(o[0], id, ih, iw, g * cg), p.dtype);
        if (p.dtype == DType::f32) {
          src[i * A + j] = static_cast<const float*>(pixel);
        } else {
          float* widened = patch + (i * A + j) * cg;
          load_f32(p.dtype, pixel, cg, widened);
          src[i * A + j] = widened;
        }
      }
    }
    sandwich(W::BT, src, dst, cg);
  }

  // Y = A^T m A for tile t, written to (or accumulated into) the valid output pixels through the
  // epilogue.
  VCONV_ISA_CLONES
  void output_transform(int64_t t, const float* m, int64_t ldm, float* y) const {
    using W = WinogradF3<M>;
    constexpr int A = W::kAlpha;
    const Problem& p = a.problem;
    const int64_t og = p.og();
    const auto o = origin(t);
    const float* src[A * A];
    float* dst[M * M];
    for (int e = 0; e < A * A; ++e) src[e] = m + e * ldm;
    for (int e = 0; e < M * M; ++e) dst[e] = y + e * og;
    sandwich(W::AT, src, dst, og);
    for (int i = 0; i < M && o[2] + i < p.out[1]; ++i)
      for (int j = 0; j < M && o[3] + j < p.out[2]; ++j)
        store_f32(a.output_dtype, y + (i * M + j) * og, og,
                  byte_ptr(a.output.data, a.output.offset(o[0], o[1], o[2] + i, o[3] + j, g * og),
                           a.output_dtype),
                  a.options.accumulate, epilogue.at(o[0], o[1], o[2] + i, o[3] + j, g * og));
  }
};

}  // namespace

template <int M>
std::string WinogradAlgorithm<M>::why_not(const Problem& p, Device device) const {
  if (device.type != DeviceType::cpu) return "runs on the CPU only";
  if (p.k[1] != 3 || p.k[2] != 3) return "needs a 3x3 spatial kernel";
  if (p.stride[1] != 1 || p.stride[2] != 1) return "needs spatial stride 1";
  if (p.kdil[1] != 1 || p.kdil[2] != 1) return "needs kernel dilation 1";
  if (p.idil[0] != 1 || p.idil[1] != 1 || p.idil[2] != 1) return "needs input dilation 1";
  return {};
}

template <int M>
std::string WinogradAlgorithm<M>::why_not_options(const Problem& p, const Options& options) const {
  // bf16/f16 inputs carry far more error than either transform adds; fp32 ones do not.
  if (p.dtype != DType::f32) return {};
  // F(4x4)'s transforms multiply rounding errors by up to ~10x the F(2x2) ones: elementwise
  // 4e-5 of the output RMS (8.8x MLX's atol = rtol = 1e-4 at reduction 4608; docs/PERFORMANCE.md,
  // "Accuracy"), which fails MLX-style comparisons at any reduction that matters.
  if (M == 4 && options.fp32_math == Fp32Math::exact)
    return "fp32 error up to 4e-5 of the output RMS elementwise; runs under fp32_math = tf32";
  const int64_t reduction = p.k[0] * p.cg(), limit = kMaxF32ReductionFor<M>(options.fp32_math);
  if (reduction > limit)
    return "fp32 with KD * C/groups = " + std::to_string(reduction) + " > " +
           std::to_string(limit) +
           (options.fp32_math == Fp32Math::exact
                ? " exceeds atol = rtol = 1e-4 elementwise; up to 8192 under fp32_math = tf32"
                : " would exceed the 1e-5 error budget");
  return {};
}

template <int M>
double WinogradAlgorithm<M>::estimate_ms(const Problem& p, Device, const Options&) const {
  constexpr double A = WinogradF3<M>::kAlpha;
  const Tiles per_group = tiles_of<M>(p);
  const double tiles = static_cast<double>(per_group.count) * p.groups;
  const double kdim = static_cast<double>(p.k[0] * p.cg());
  const double gemm_flops = 2.0 * tiles * A * A * kdim * p.og();
  // Transforms: about 2 * alpha^2 * (alpha - 2) flops per tile and input channel (two passes,
  // the zeros of B skipped), about 2 * M * alpha * (alpha + M) / 2 per tile and output channel.
  // Consecutive output frames share transformed input frames: the first of the OD tiles at an
  // (n, th, tw) transforms KD frames, each next one min(KD, depth stride), when the kernel
  // dilation is 1.
  const double kd = static_cast<double>(p.k[0]), od = static_cast<double>(p.out[0]);
  const double fresh =
      p.kdil[0] == 1 ? (kd + (od - 1) * static_cast<double>(std::min(p.k[0], p.stride[0]))) / od
                     : kd;
  const double transform_flops =
      tiles * (fresh * p.cg() * 2.0 * A * A * (A - 2) + p.og() * M * A * (A + M));
  // A group's chunks of tiles are spread over the threads (a single chunk runs on one of them).
  const double balance = cost::thread_balance(
      static_cast<double>(per_group.count), static_cast<double>(tiles_per_chunk<M>(p, per_group)));
  // The weight transform: G g (2 * alpha * 9 flops), then (G g) G^T (2 * alpha^2 * 3), per input
  // and output channel pair and depth tap.
  const double weight_flops = kdim * p.o * (2.0 * A * 9 + 2.0 * A * A * 3);
  return (cost::gemm_ms(gemm_flops, static_cast<double>(p.og())) +
          cost::transform_ms(transform_flops, p.dtype)) *
             balance +
         cost::weight_transform_ms(weight_flops);
}

template <int M>
void WinogradAlgorithm<M>::run(const ConvArgs& a) const {
  constexpr int A = WinogradF3<M>::kAlpha;
  const Problem& p = a.problem;
  const Tiles tiles = tiles_of<M>(p);
  const int64_t cg = p.cg(), og = p.og(), kdim = p.k[0] * cg;
  const int64_t tc = tiles_per_chunk<M>(p, tiles);
  const int64_t chunks = (tiles.count + tc - 1) / tc;
  const int64_t packed = packed_b_floats(kdim, og);
  const LoadedEpilogue epilogue(a.options.epilogue);
  // Before the parallel region: an unusable VCONV_CPU_GEMM_KERNEL throws here, to the caller.
  const GemmKernel kernel = default_gemm_kernel();
  for (int64_t g = 0; g < p.groups; ++g) {
    const Scratch u_buffer(ScratchSlot::weights, A * A * packed);
    float* u = u_buffer.get();
    transform_weight<M>(a, g, u);
    TileContext<M> ctx{a, tiles, {}, g, epilogue};
    for (int i = 0; i < 3; ++i)
      ctx.dim[i] = DimMap{p.in[i], p.stride[i], p.pad_lo[i], p.kdil[i], p.idil[i], p.mode[i]};
#pragma omp parallel
    {
      const Scratch v_buffer(ScratchSlot::first, A * A * tc * kdim);  // [a][tile][kd, ci]
      const Scratch m_buffer(ScratchSlot::second, A * A * tc * og);   // [a][tile][o]
      float* v = v_buffer.get();
      float* m = m_buffer.get();
      // Scratch for one tile: the widened patch (not fp32 inputs) and a zero pixel; the output
      // tile.
      const Scratch patch_buffer(ScratchSlot::third, (A * A + 1) * cg);
      float* patch = patch_buffer.get();
      std::fill(patch + A * A * cg, patch + (A * A + 1) * cg, 0.0f);
      const Scratch y_buffer(ScratchSlot::fourth, M * M * og);
      float* y = y_buffer.get();
#pragma omp for schedule(dynamic)
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t t0 = c * tc, n = std::min(tc, tiles.count - t0);
        for (int64_t t = 0; t < n; ++t)
          for (int64_t kd = 0; kd < p.k[0]; ++kd) {
            float* dst = v + t * kdim + kd * cg;
            // The previous tile of the chunk at the same (n, th, tw) may have transformed this
            // frame's patch already (for another depth tap): copy it instead of transforming.
            const int64_t frame = ctx.frame_of(t0 + t, kd);
            int64_t from = -1;
            if (t > 0 && frame >= 0 && (t0 + t) % p.out[0] != 0)
              for (int64_t k2 = 0; k2 < p.k[0] && from < 0; ++k2)
                if (ctx.frame_of(t0 + t - 1, k2) == frame) from = k2;
            if (from >= 0) {
              const float* src = v + (t - 1) * kdim + from * cg;
              for (int e = 0; e < A * A; ++e)
                std::copy(src + e * tc * kdim, src + e * tc * kdim + cg, dst + e * tc * kdim);
            } else {
              ctx.input_transform(t0 + t, kd, patch, dst, tc * kdim);
            }
          }
        for (int e = 0; e < A * A; ++e)
          gemm_packed_b(n, og, kdim, v + e * tc * kdim, kdim, u + e * packed, m + e * tc * og, og,
                        false, kernel);
        for (int64_t t = 0; t < n; ++t) ctx.output_transform(t0 + t, m + t * og, tc * og, y);
      }
    }
  }
}

template class WinogradAlgorithm<2>;
template class WinogradAlgorithm<4>;

}  // namespace vconv::cpu

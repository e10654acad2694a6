#pragma once
// The mainloop of the implicit-GEMM conv: per CTA, a loop over (depth tap, kh, kw, channel block)
// k-blocks; each k-block's A tile is gathered from the input through the index map (the frame of
// depth tap kd for each output row: stride, dilation, causal/zero/replicate/reflect padding) with
// zero-filling cp.async, its B tile read from the weight slice of that tap, both staged through a
// multistage cp.async pipeline and multiplied into fp32 registers (ldmatrix + mma.sync, or wgmma).
#include "core/index_map.h"
#include "cuda/implicit_gemm/params.h"
#include "cuda/implicit_gemm/ptx_sm80.cuh"
#include "cuda/implicit_gemm/row_info.h"
#include "cuda/implicit_gemm/tile_config.h"
#include "cuda/implicit_gemm/warp_mma.cuh"
#include "cuda/implicit_gemm/warpgroup_mma.cuh"

namespace vconv::cuda::implicit_gemm {

// The frame at padded position q of the time dimension: an input frame, a streaming call's
// cached frame, or -1 for zero padding (core/index_map.h owns the map; a plain call skips the
// cache's test).
__device__ inline FrameSource time_source(const Params& p, int64_t q) {
  const DimMap& t = p.geo.dim[0];
  if (p.cached.count > 0) return streamed_frame(t, p.cached.count, q);
  return {input_index_at(t, q), false};
}

__device__ inline RowInfo row_info(const Params& p, int64_t row) {
  return row_info(p.geo, p.in, p.m, p.affine_taps, row);
}

// The position of the next k-block to load, advanced one block per load() (loads run in order)
// over the tile's depth taps (a bit mask, tile_depth_taps()).
struct KBlockIter {
  uint32_t taps;
  int kd, kh, kw, cb;
  // The tile's first k-block: its first depth tap, kh = kw = 0, channel block 0.
  __device__ static KBlockIter first(uint32_t taps) {
    return {taps, __ffs(static_cast<int>(taps)) - 1, 0, 0, 0};
  }
  __device__ void advance(const Geometry& g, int cblocks) {
    if (++cb < cblocks) return;
    cb = 0;
    if (++kw < g.k[2]) return;
    kw = 0;
    if (++kh < g.k[1]) return;
    kh = 0;
    kd += __ffsll(static_cast<long long>(uint64_t{taps} >> (kd + 1)));  // the next tap
  }
};

// The threads that share a CTA tile's row state: the whole CTA (the multistage kernels), or the
// producer warpgroup of the warp-specialized kernel (named barrier 1, kernel_ws.cuh).
template <int Threads>
struct CtaThreads {
  static constexpr int kThreads = Threads;
  __device__ static int index() { return threadIdx.x; }
  __device__ static void sync() { __syncthreads(); }
};
struct ProducerThreads {
  static constexpr int kThreads = 128;
  __device__ static int index() { return threadIdx.x; }  // warpgroup 0
  __device__ static void sync() { named_barrier_sync(1, kThreads); }
};

// The row state of the tile at output row m0, in shared memory, written by the threads of G.
template <int BM, typename G>
__device__ inline void init_rows(const Params& p, int64_t m0, RowInfo* rows) {
  for (int r = G::index(); r < BM; r += G::kThreads) rows[r] = row_info(p, m0 + r);
  G::sync();
}

// The depth taps of [kd_begin, kd_end) through which some output row of [m0, m0 + rows) reads a
// real frame (of the input or the cache), as a mask (bit kd; the host keeps kd_end <=
// kMaxSkippableTaps = 32); a tap that reads zero padding for every row of the tile is skipped.
// Rows run over [N, OD, OH, OW], so the tile's rows cover one interval of output frames, or two
// when they cross into the next batch element. Every thread computes the same mask from the
// parameters alone, so no thread waits for another and no shared memory carries it.
__device__ inline uint32_t tile_depth_taps(const Params& p, int64_t m0, int64_t rows) {
  const int64_t last = (m0 + rows < p.m ? m0 + rows : p.m) - 1;
  int64_t n_first, n_last, od_first, od_last, oh, ow;
  decode_row(p.geo, m0, n_first, od_first, oh, ow);
  decode_row(p.geo, last, n_last, od_last, oh, ow);
  const int64_t frames = p.geo.out[0];
  int64_t lo[2] = {od_first, 0}, hi[2] = {od_last, -1};
  if (n_last > n_first) {
    hi[0] = frames - 1;
    if (n_last == n_first + 1 && od_last + 1 < od_first)
      hi[1] = od_last;  // two intervals
    else
      lo[0] = 0;  // every frame
  }
  const DimMap& t = p.geo.dim[0];
  uint32_t taps = 0;
  for (int kd = p.kd_begin; kd < p.kd_end; ++kd)
    for (int i = 0; i < 2 && !(taps >> kd & 1); ++i)
      for (int64_t od = lo[i]; od <= hi[i]; ++od) {
        const int64_t q = od * t.stride + kd * t.kdil - t.pad_lo;
        if (time_source(p, q).index >= 0) {
          taps |= 1u << kd;
          break;
        }
        if (q >= upsampled_length(t)) break;  // later frames read further past the end (zeros)
      }
  return taps;
}

// What a tile's k-blocks run through: its depth taps and their number (taps x KH x KW x channel
// blocks). Under `at_least_one`, a tile whose every tap reads zero padding still gets one k-block,
// through tap kd_begin, whose A rows are all zero-filled (the warp-specialized kernel's consumers
// then store its zero tile the way they store any other).
struct TileWork {
  uint32_t taps;
  int kblocks;
};
__device__ inline TileWork tile_work(const Params& p, int64_t m0, int64_t rows, int cblocks,
                                     bool at_least_one) {
  const uint32_t taps = tile_depth_taps(p, m0, rows);
  if (taps == 0 && at_least_one) return {1u << p.kd_begin, 1};
  return {taps, __popc(taps) * static_cast<int>(p.geo.k[1] * p.geo.k[2]) * cblocks};
}

// The weight position of tap (kd, kh, kw): under flip the kernel is read mirrored in every
// dimension, depth included.
struct WeightTap {
  int64_t d, h, w;
};
__device__ inline WeightTap weight_tap(const Geometry& geo, int64_t kd, int64_t kh, int64_t kw) {
  if (!geo.flip) return {kd, kh, kw};
  return {geo.k[0] - 1 - kd, geo.k[1] - 1 - kh, geo.k[2] - 1 - kw};
}

template <typename C, typename E>
struct Mainloop {
  using T = Tile<C, E>;
  const Params& p;
  const RowInfo* rows;  // [kBM], shared memory
  int64_t g;            // group
  int cblocks;          // channel blocks per tap
  E* smem_a;            // [stage][kBM][kLds]
  E* smem_b;            // [stage][kBN][kLds]
  int64_t n0;           // first output channel of the CTA within the group

  // Per tap (computed when a tap's first channel block loads, reused for its other channel
  // blocks) and per CTA (init_b_rows): pointers, so that a k-block's copies add one offset each.
  const E* a_row[C::kARows];  // this tap's input row of each copied A row, or nullptr
  int64_t weight_offset;      // this tap's offset within a weight row
  const E* b_row[C::kBRows];  // the weight row of each copied B row, or nullptr

  uint64_t* b_full;  // swizzled tiles: per stage, the barrier B's copy completes on

  // Loads the k-block at `it` into `stage` and advances `it`.
  __device__ void load(int stage, KBlockIter& it) {
    if (it.cb == 0) begin_tap(it);
    copy_a(stage, it);
    if constexpr (C::kSwizzled)
      copy_b_tma(stage, it);
    else
      copy_b(stage, it);
    it.advance(p.geo, cblocks);
  }

  // This thread's copy rows and 16-byte chunk.
  __device__ static int copy_row() { return threadIdx.x / C::kChunksPerRow; }
  __device__ static int copy_chunk() { return threadIdx.x % C::kChunksPerRow; }

  // At a tap's first channel block: the input row each of this thread's A rows reads through the
  // tap (nullptr in padding) and the tap's offset within a weight row.
  __device__ void begin_tap(const KBlockIter& it) {
    const Geometry& geo = p.geo;
    const int64_t kd = it.kd, kh = it.kh, kw = it.kw;
    if (p.affine_taps) {
      const E* tap_in = materialize(static_cast<const E*>(p.in.data) + g * geo.cg +
                                    affine_tap_offset(geo, p.in, it.kd, it.kh, it.kw));
      const uint32_t bits = affine_tap_bits(geo, it.kd, it.kh, it.kw);
#pragma unroll
      for (int i = 0; i < C::kARows; ++i) {
        const RowInfo& ri = rows[copy_row() + i * C::kRowStep];
        a_row[i] = affine_reads(ri, bits) ? tap_in + ri.affine.base : nullptr;
      }
    } else {
      begin_tap_mapped(kd, kh, kw);
    }
    const WeightTap t = weight_tap(geo, kd, kh, kw);
    weight_offset = t.d * p.w.stride[1] + t.h * p.w.stride[2] + t.w * p.w.stride[3];
  }

  // begin_tap's rows through the index map in every dimension (pad modes, dilation, upsampling,
  // a frame cache).
  __device__ void begin_tap_mapped(int64_t kd, int64_t kh, int64_t kw) {
    const Geometry& geo = p.geo;
#pragma unroll
    for (int i = 0; i < C::kARows; ++i) {
      const RowInfo& ri = rows[copy_row() + i * C::kRowStep];
      const FrameSource d = time_source(p, ri.q0[0] + kd * geo.dim[0].kdil);
      const int64_t ih = input_index_at(geo.dim[1], ri.q0[1] + kh * geo.dim[1].kdil);
      const int64_t iw = input_index_at(geo.dim[2], ri.q0[2] + kw * geo.dim[2].kdil);
      // A cached frame has the input's height and width strides (why_not_frame_cache).
      const TensorRef& src = d.from_cache ? p.cached.frames : p.in;
      a_row[i] = ri.n >= 0 && d.index >= 0 && ih >= 0 && iw >= 0
                     ? static_cast<const E*>(src.data) + ri.n * src.stride[0] +
                           d.index * src.stride[1] + ih * p.in.stride[2] + iw * p.in.stride[3] +
                           g * geo.cg
                     : nullptr;
    }
  }

  // First input channel of this thread's chunk in the k-block at `it`.
  __device__ int64_t chunk_channel(const KBlockIter& it) const {
    return int64_t(it.cb) * T::kBK + copy_chunk() * T::kChunk;
  }

  // This thread's first chunk in a stage's tile; its copy i lands i * kRowStep rows further on
  // (T::offset is linear in rows that many apart: the swizzle repeats every 8 rows, and
  // TileConfig asserts kRowStep a multiple of 8 where it applies), so the copies add constants to
  // one offset.
  __device__ static int copy_offset() {
    return T::offset(copy_row(), copy_chunk());
  }
  static constexpr int kCopyStep = C::kRowStep * T::kLds;

  // The A rows of the k-block at `it` (zero where a row reads padding or past the channels).
  __device__ void copy_a(int stage, const KBlockIter& it) const {
    const int64_t c0 = chunk_channel(it);
    const bool c_ok = c0 < p.geo.cg;
    E* a = smem_a + stage * C::kBM * T::kLds + copy_offset();
#pragma unroll
    for (int i = 0; i < C::kARows; ++i) {
      const bool ok = c_ok && a_row[i] != nullptr;
      const E* src = ok ? a_row[i] + c0 : static_cast<const E*>(p.in.data);
      cp_async_16(a + i * kCopyStep, src, ok);
    }
  }

  // Once per CTA: the weight rows this thread copies (the loads then add one offset per row).
  __device__ void init_b_rows() {
    const int r = copy_row();
#pragma unroll
    for (int i = 0; i < C::kBRows; ++i) {
      // A tile narrower than a row step leaves the threads past its last row idle.
      const int64_t n = n0 + r + i * C::kRowStep;
      const bool in_tile = C::kBN % C::kRowStep == 0 || r + i * C::kRowStep < C::kBN;
      b_row[i] = in_tile && n < p.geo.og
                     ? static_cast<const E*>(p.w.data) + (g * p.geo.og + n) * p.w.stride[0]
                     : nullptr;
    }
  }

  // The B rows (output channels) of the k-block at `it` (zero past the output channels).
  __device__ void copy_b(int stage, const KBlockIter& it) const {
    const int64_t c0 = chunk_channel(it);
    const bool c_ok = c0 < p.geo.cg;
    const int64_t k0 = weight_offset + c0;
    const int r = copy_row();
    E* b = smem_b + stage * C::kBN * T::kLds + copy_offset();
#pragma unroll
    for (int i = 0; i < C::kBRows; ++i) {
      if (C::kBN % C::kRowStep != 0 && r + i * C::kRowStep >= C::kBN) break;
      const bool ok = c_ok && b_row[i] != nullptr;
      const E* src = ok ? b_row[i] + k0 : static_cast<const E*>(p.w.data);
      cp_async_16(b + i * kCopyStep, src, ok);
    }
  }

  // The B tile of the k-block at `it`, one box of the weight's tensor map copied by the tensor
  // copy engine in the stage's 128-byte swizzle (channels past C/groups and rows past O read as
  // zeros; rows of the next group past this group's output channels are never stored), issued by
  // one thread: 8-16 cp.async per thread and their address arithmetic fewer per k-block, for a
  // kernel bound by instruction issue.
  __device__ void copy_b_tma(int stage, const KBlockIter& it) const {
    if (threadIdx.x != 0) return;
    mbarrier_arrive_expect_tx(&b_full[stage], C::kBN * C::kRowBytes);
    const WeightTap w = weight_tap(p.geo, it.kd, it.kh, it.kw);
    const int coords[5] = {it.cb * T::kBK, int(w.w), int(w.h), int(w.d), int(g * p.geo.og + n0)};
    tma_load_5d(smem_b + stage * C::kBN * T::kLds, &p.weight_map, &b_full[stage], coords);
  }

  // The k-block at `it` by the tensor copy engine alone (Params::im2col), issued by one thread:
  // A as one im2col load of the tile's kBM output positions from `start` (the first position's
  // {c, w, h, d, n} in tap (0, 0, 0)'s input coordinates, channel 0 of the group) shifted by the
  // tap, then B. A's bytes are announced without an arrival; B's copy arrives for the stage.
  __device__ void load_im2col(int stage, KBlockIter& it, const int (&start)[5]) {
    const Geometry& geo = p.geo;
    mbarrier_expect_tx(&b_full[stage], C::kBM * C::kRowBytes);
    const int coords[5] = {start[0] + it.cb * T::kBK, start[1], start[2], start[3], start[4]};
    const uint16_t offsets[3] = {uint16_t(it.kw * geo.dim[2].kdil),
                                 uint16_t(it.kh * geo.dim[1].kdil),
                                 uint16_t(it.kd * geo.dim[0].kdil)};
    tma_load_im2col_5d(smem_a + stage * C::kBM * T::kLds, &p.input_map, &b_full[stage], coords,
                       offsets);
    copy_b_tma(stage, it);
    it.advance(geo, cblocks);
  }

  // Multiplies `stage` into the accumulators: each warp its own tile with mma.sync, or each
  // warpgroup 64 rows by the whole kBN with wgmma (left running, and writing rather than adding
  // for the first k-block: warpgroup_mma.cuh).
  template <typename Mma>
  __device__ void compute(int stage, bool first, float (&acc)[C::kMI][C::kNI][4]) const {
    const int warp = threadIdx.x / 32;
    if constexpr (Mma::kWarpgroup) {
      multiply_stage_wgmma<C, Mma>(smem_a + (stage * C::kBM + warp / 4 * 64) * T::kLds,
                                   smem_b + stage * C::kBN * T::kLds, acc[0], first);
    } else {
      const int wm = warp / C::kWarpsN, wn = warp % C::kWarpsN;
      multiply_stage<C, E, Mma>(smem_a + (stage * C::kBM + wm * C::kWM) * T::kLds,
                                smem_b + (stage * C::kBN + wn * C::kWN) * T::kLds, acc);
    }
  }
};

}  // namespace vconv::cuda::implicit_gemm

#pragma once
// Tile shapes of the implicit-GEMM conv kernel (mma.sync on sm_80 and newer, wgmma on sm_90a).
//   GEMM view: M = output positions, N = output channels of a group, K = taps x input channels.
//   A CTA computes a kBM x kBN output tile; each k-block is one kRowBytes row of channels per
//   output position (and per output channel of the weight), copied in 16-byte cp.async chunks
//   through kStages pipeline stages.
namespace vconv::cuda::implicit_gemm {

// How a stage's rows lie in shared memory.
//   padded: rows padded by 16 bytes, so that the 8 row addresses of every ldmatrix phase fall in
//     distinct bank groups (mma.sync reads fragments with ldmatrix).
//   swizzled128: 128-byte rows unpadded, 16-byte chunk c of row r at chunk c ^ (r % 8), stages
//     1024-byte aligned: the layout wgmma reads through a 128-byte-swizzle descriptor, and one in
//     which the 8 chunks a quarter-warp copies land in distinct bank groups.
enum class SmemLayout { padded, swizzled128 };

template <int BM, int BN, int WarpsM, int WarpsN, int RowBytes, int Stages, int MinBlocksPerSm,
          SmemLayout Layout = SmemLayout::padded>
struct TileConfig {
  static constexpr int kBM = BM, kBN = BN;
  static constexpr SmemLayout kLayout = Layout;
  static constexpr bool kSwizzled = Layout == SmemLayout::swizzled128;
  // Stages whose MMAs may still run when the next stage's start (wgmma runs asynchronously: one
  // stage in flight across the barrier); the loads run kStages - 1 - kMmaInFlight k-blocks ahead.
  static constexpr int kMmaInFlight = kSwizzled ? 1 : 0;
  static constexpr int kLoadAhead = Stages - 1 - kMmaInFlight;
  static constexpr int kRowBytes = RowBytes;  // one k-block row
  static constexpr int kPadBytes = kSwizzled ? 0 : 16;
  static constexpr int kSmemAlign = kSwizzled ? 1024 : 16;  // of the first stage
  static constexpr int kStages = Stages;
  static constexpr int kMinBlocksPerSm = MinBlocksPerSm;  // __launch_bounds__: caps registers
  static constexpr bool kWarpSpecialized = false;         // kernel_ws.cuh's tiles say true
  static constexpr int kWarpsM = WarpsM, kWarpsN = WarpsN;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int kWM = kBM / kWarpsM, kWN = kBN / kWarpsN;  // warp tile
  static constexpr int kMI = kWM / 16, kNI = kWN / 8;             // MMA tiles per warp
  // The stages, and room to align the first one (the dynamic shared memory base is 16-aligned).
  static constexpr int kSmemBytes =
      kStages * (kBM + kBN) * (kRowBytes + kPadBytes) + (kSmemAlign > 16 ? kSmemAlign : 0);
  // Loader: thread t copies chunk t % kChunksPerRow of rows t / kChunksPerRow + i * kRowStep.
  static constexpr int kChunksPerRow = kRowBytes / 16;
  static constexpr int kRowStep = kThreads / kChunksPerRow;
  static constexpr int kARows = kBM / kRowStep;                   // A rows per thread
  static constexpr int kBRows = (kBN + kRowStep - 1) / kRowStep;  // B rows per thread (or fewer)
  // Depth taps that a CTA can skip when all its rows read zero padding through them; kernels
  // with more taps run them all.
  static constexpr int kMaxSkippableTaps = 32;
  static_assert(kBM % kRowStep == 0, "every thread copies the same number of A rows");
  static_assert(kMI >= 1 && kNI % 2 == 0, "B fragments load 16 columns per ldmatrix.x4");
  static_assert(!kSwizzled || (kRowBytes == 128 && kRowStep % 8 == 0 && kBM % 64 == 0),
                "the 128-byte swizzle needs 128-byte rows, and wgmma tiles of 64 rows");
};

// 128 x 128 with 8 warps of 64 x 32 (4 x 4 MMAs per k step, 64 fp32 accumulators per thread),
// 128-byte k-blocks (64 bf16 channels) through 3 stages, two CTAs per SM (2 x 112 KiB of shared
// memory): the tile for convs with many output channels. Measured on the H100 against the same
// tile with 64-byte k-blocks and 4 stages: 1.15-1.20x in bf16 (half the barriers per MMA), and
// against 128 x 256 with 16 warps at one CTA per SM: equal or faster.
using WideTile = TileConfig<128, 128, 2, 4, 128, 3, 2>;
// The same with 64-byte k-blocks through 4 stages, for channel counts that 128-byte blocks fill
// worse (96 bf16 channels fill 75% of two 64-channel blocks, all of three 32-channel ones): the
// Wan decoder's 96-channel 3x3x3 conv ran 111.7 ms with WideTile alone, 97.7 ms with this one
// (and 16 channels 0.956 -> 0.659 ms). cuda_implicit_gemm picks per problem (wide_shallow()).
using WideShallowTile = TileConfig<128, 128, 2, 4, 64, 4, 2>;
// 128 x 16 with 8 warps of 16 x 16: for convs with few output channels (the output conv of a VAE
// decoder, 3 channels), where a 128-wide tile would multiply mostly zeros. 64-byte k-blocks: with
// 128-byte ones 96 channels fill 75% of their blocks, and it measured 1.3x slower. Three CTAs per
// SM (1.27x faster than two).
using NarrowTile = TileConfig<128, 16, 8, 1, 64, 4, 3>;
// The wgmma tiles (sm_90a), 128-byte swizzled k-blocks through 4 stages at one CTA per SM
// (193 KiB). A warpgroup multiplies 64 rows by the whole tile width (8 or 16 warps of 16 rows, the
// accumulator layout of wgmma). Measured on the H100 (docs/PERFORMANCE.md): 128 x 128 at two CTAs
// per SM, with the same per-k-block copy work for half the MMAs, reached 325 TFLOP/s against
// 390-450 for these (before B moved to the tensor copy engine: 400-540 since).
// 128 x 256, two warpgroups of 64 x 256 (128 fp32 accumulators per thread): for output channel
// counts that are multiples of 256 (1-6% faster there).
using HopperTile = TileConfig<128, 256, 8, 1, 128, 4, 1, SmemLayout::swizzled128>;
// 256 x 128, four warpgroups of 64 x 128: for the others (384 channels: 1.24-1.32x faster than
// 128 x 256, whose second tile is half empty; 96: 1.8x).
using HopperTallTile = TileConfig<256, 128, 16, 1, 128, 4, 1, SmemLayout::swizzled128>;

// The warp-specialized persistent wgmma kernel (kernel_ws.cuh): one producer warpgroup gathers
// A and issues B's tensor copies, two consumer warpgroups multiply, each kBM / 2 rows by all kBN
// channels. TileConfig's warps describe the producer (the loader: 4 warps, so kRowStep 16 rows
// per copy instruction and kARows = kBM / 16 rows per producer thread); the kernel's own thread
// count is kKernelThreads. Registers: the CTA is launched with kLaunchRegs per thread (what
// __launch_bounds__ gives 384 threads at one CTA per SM) and the warpgroups then trade them:
// setmaxnreg.inc blocks until the registers it asks for are free, so what the consumers take
// must not exceed what the producer gives back. The consumers hold kBM / 2 * kBN / 128 fp32
// accumulators each (128 for both tiles); the producer keeps kARows row pointers and the tap
// state (ptxas -v on the 256-row tile: 64 registers spilled 160 bytes, 72 spill 48; the
// consumers at 208 spilled more, so they keep 216 and the producer takes the rest).
template <int BM, int BN, int Stages>
struct WsTileConfig : TileConfig<BM, BN, 4, 1, 128, Stages, 1, SmemLayout::swizzled128> {
  static constexpr bool kWarpSpecialized = true;
  static constexpr int kConsumers = 2;
  static constexpr int kKernelThreads = 128 * (1 + kConsumers);
  static constexpr int kWgRows = BM / kConsumers;  // rows per consumer warpgroup
  static constexpr int kMSlices = kWgRows / 64;    // m64 wgmma instructions per k step
  static constexpr int kLaunchRegs = 65536 / kKernelThreads / 8 * 8;
  static constexpr int kProducerRegs = 72, kConsumerRegs = 216;
  static_assert(kWgRows % 64 == 0 && (BN == 128 || BN == 192 || BN == 256),
                "wgmma m64n128, m64n192 or m64n256");
  static_assert(128 * kProducerRegs + 128 * kConsumers * kConsumerRegs <=
                    kKernelThreads * kLaunchRegs,
                "the consumers take at most the registers the producer gives back");
};
// 128 x 256 (consumers of 64 x 256: one m64n256 per k step) where output channels per group
// fill 256-wide tiles; 256 x 128 (consumers of 128 x 128: two m64n128) for the others. Four
// stages of 48 KiB.
using WsWideTile = WsTileConfig<128, 256, 4>;
using WsTallTile = WsTileConfig<256, 128, 4>;
// 128 x 192 (consumers of 64 x 192: one m64n192 per k step) where output channels per group fill
// 192-wide tiles but not 256-wide ones (192, 384, 576: Wan's and HunyuanVideo's decoders): the
// producer gathers 128 A rows per k-block for 192 output channels, where the tall tile gathers
// 256 for 128 (on the H200 the tall tile's producer was what its consumers waited for:
// docs/PERFORMANCE.md, 2026-12-04). Five stages of 40 KiB.
using Ws192Tile = WsTileConfig<128, 192, 5>;

// The same tile in elements of type E.
template <typename Config, typename E>
struct Tile : Config {
  static constexpr int kChunk = 16 / int(sizeof(E));                     // elements per copy
  static constexpr int kBK = Config::kRowBytes / int(sizeof(E));         // channels per k-block
  static constexpr int kLds = kBK + Config::kPadBytes / int(sizeof(E));  // smem row length
  // Elements from a stage's A or B tile to 16-byte chunk `chunk` of its row `row`.
  __host__ __device__ static constexpr int offset(int row, int chunk) {
    return row * kLds + (Config::kSwizzled ? chunk ^ (row % 8) : chunk) * kChunk;
  }
};

}  // namespace vconv::cuda::implicit_gemm

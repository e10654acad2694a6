#pragma once
// Tile sizes of the implicit-GEMM conv kernel (sm_80 and newer, mma.sync).
//   GEMM view: M = output positions, N = output channels of a group, K = taps x input channels.
//   CTA tile 128 x 128 x (64 bytes of channels: 32 bf16/f16 or 16 fp32): 128 x 128 keeps 8 warps
//   busy with a 64 x 32 warp tile each (4 x 4 MMAs per k step, 64 fp32 accumulators per thread)
//   while each k-block is one 64-byte row per output position, four 16-byte cp.async per row.
//   4 stages of cp.async hide global latency; rows are padded by 16 bytes (80-byte stride) so
//   that the 8 row addresses of every ldmatrix phase fall in distinct bank groups.
namespace vconv::cuda::implicit_gemm {

struct TileConfig {
  static constexpr int kBM = 128, kBN = 128;
  static constexpr int kRowBytes = 64, kPadBytes = 16;  // one k-block row, and its padding
  static constexpr int kStages = 4;
  static constexpr int kWarpsM = 2, kWarpsN = 4;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int kWM = kBM / kWarpsM, kWN = kBN / kWarpsN;  // 64 x 32
  static constexpr int kMI = kWM / 16, kNI = kWN / 8;             // MMA tiles per warp
  static constexpr int kSmemBytes = kStages * (kBM + kBN) * (kRowBytes + kPadBytes);
  // Depth taps that a CTA can skip when all its rows read zero padding through them; kernels
  // with more taps run them all.
  static constexpr int kMaxSkippableTaps = 32;
  static_assert(kBM * kRowBytes / 16 == 2 * kThreads && kBN * kRowBytes / 16 == 2 * kThreads,
                "each thread copies two 16-byte chunks of A and two of B per stage");
};

// The same tile in elements of type E.
template <typename E>
struct Tile : TileConfig {
  static constexpr int kChunk = 16 / int(sizeof(E));             // elements per 16-byte copy
  static constexpr int kBK = kRowBytes / int(sizeof(E));         // channels per k-block
  static constexpr int kLds = kBK + kPadBytes / int(sizeof(E));  // smem row length
};

}  // namespace vconv::cuda::implicit_gemm

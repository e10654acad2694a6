#include <cstdint>
#include <utility>

#include "cuda/check.h"
#include "cuda/conv_implicit_gemm.h"
#include "cuda/cost_model.h"
#include "cuda/device_scope.h"
#include "cuda/epilogue.cuh"
#include "cuda/frame_cache.h"
#include "cuda/implicit_gemm/im2col_box.h"
#include "cuda/implicit_gemm/launch.h"
#include "cuda/implicit_gemm/row_info.h"
#include "cuda/tensor_map.h"

namespace vconv::cuda {
namespace {

using implicit_gemm::HopperTallTile;
using implicit_gemm::HopperTile;
using implicit_gemm::NarrowTile;
using implicit_gemm::Params;
using implicit_gemm::WideShallowTile;
using implicit_gemm::WideTile;
using implicit_gemm::Ws192Tile;
using implicit_gemm::WsTallTile;
using implicit_gemm::WsWideTile;

std::string why_not_problem(const Problem& p, Device device) {
  if (device.type != DeviceType::cuda) return "runs on CUDA devices only";

  for (int i = 0; i < 3; ++i)
    if (p.idil[i] != 1) return "needs input dilation 1 (cuda_gemm_fallback splits it by phase)";
  const int64_t chunk = 16 / dtype_size(p.dtype);
  if (p.cg() % chunk != 0)
    return "needs C/groups divisible by " + std::to_string(chunk) + " (16-byte copies)";
  if (p.k[0] > WideTile::kMaxSkippableTaps)
    return "needs kernel depth <= " + std::to_string(WideTile::kMaxSkippableTaps);
  if (p.groups > 65535) return "needs groups <= 65535 (grid z)";
  return {};
}

// 16-byte copies need 16-byte aligned rows: aligned base pointers and strides in multiples of
// 16 bytes; so do a streaming call's cached frames.
std::string why_not_args_of(const ConvArgs& a) {
  const int64_t chunk = 16 / dtype_size(a.problem.dtype);
  for (const View5* v : {&a.input, &a.weight}) {
    const char* what = v == &a.input ? "input" : "weight";
    if (reinterpret_cast<uintptr_t>(v->data) % 16 != 0)
      return std::string(what) + " data is not 16-byte aligned";
    for (int i = 0; i < 4; ++i)
      if (v->shape[i] > 1 && v->strides[i] % chunk != 0)
        return std::string(what) + " stride " + std::to_string(v->strides[i]) +
               " is not a multiple of " + std::to_string(chunk) + " elements";
  }
  return why_not_frame_cache(a);
}

// Compute capability of a CUDA device as major * 10 + minor; 0 when it cannot be read.
int compute_capability(int index) {
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, index) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, index) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return major * 10 + minor;
}

// What the wgmma kernels need beyond why_not_problem(): their sm_90a code in this build, a device
// that runs it (sm_90a code runs on compute capability 9.0 only), and 16-bit inputs, or fp32 on
// the warp-specialized kernels (as TF32: why_not_options).
std::string why_not_sm90(const Problem& p, Device device, TileShape shape) {
#ifndef VCONV_CUDA_SM90A
  (void)p;
  (void)device;
  (void)shape;
  return "needs a build with sm_90a in CMAKE_CUDA_ARCHITECTURES";
#else
  if (p.dtype == DType::f32 && shape == TileShape::sm90)
    return "needs bf16 or f16 inputs (fp32 runs on cuda_implicit_gemm_sm90_ws)";
  if (p.o > INT32_MAX)
    return "needs fewer than 2^31 output channels (the weight's tensor-map coordinates are 32-bit)";
  const int cc = compute_capability(device.index);
  if (cc != 90)
    return "needs a compute capability 9.0 device (sm_90a code); this one is " +
           std::to_string(cc / 10) + "." + std::to_string(cc % 10);
  return {};
#endif
}

// The share of each k-block that holds real channels when k-blocks are row_bytes deep.
double channel_fill(const Problem& p, int64_t row_bytes) {
  const int64_t kbk = row_bytes / dtype_size(p.dtype);
  return static_cast<double>(p.cg()) / static_cast<double>((p.cg() + kbk - 1) / kbk * kbk);
}

// The wide tile takes the k-block depth its channels fill better (the deeper one on a tie).
bool wide_shallow(const Problem& p) {
  return channel_fill(p, WideShallowTile::kRowBytes) > channel_fill(p, WideTile::kRowBytes);
}

// The one place that maps a tile shape and a problem to the tile config that runs it: calls
// f(Config{}). The wgmma kernels take 128 x 256 tiles where output channels per group fill them,
// the warp-specialized one 128 x 192 where those fill it instead, else 256 x 128; the wide tile
// takes the k-block depth its channels fill better.
template <typename F>
decltype(auto) with_tile(TileShape shape, const Problem& p, F&& f) {
  const bool fills_256 = p.og() % 256 == 0, fills_192 = p.og() % 192 == 0;
  switch (shape) {
    case TileShape::narrow:
      return f(NarrowTile{});
    case TileShape::sm90:
      return fills_256 ? f(HopperTile{}) : f(HopperTallTile{});
    case TileShape::sm90_ws:
    case TileShape::sm90_im2col:
      if (fills_256) return f(WsWideTile{});
      return fills_192 ? f(Ws192Tile{}) : f(WsTallTile{});
    case TileShape::wide:
      break;
  }
  return wide_shallow(p) ? f(WideShallowTile{}) : f(WideTile{});
}

Params params_of(const ConvArgs& a, const View5& out, int kd_begin, int kd_end,
                 const EpilogueParams& epilogue) {
  const Problem& p = a.problem;
  Params prm{tensor_ref(a.input),
             tensor_ref(a.weight),
             tensor_ref(out),
             geometry(p),
             p.n * p.out[0] * p.out[1] * p.out[2],
             p.groups,
             kd_begin,
             kd_end,
             epilogue,
             cached_frames_of(a),
             false,
             {},
             false,  // im2col: the warp-specialized launch decides (launch.cuh)
             {}};
  prm.affine_taps = implicit_gemm::affine_taps(prm.geo, prm.cached.count);
  return prm;
}

template <bool kF32Out>
void launch_shape(TileShape shape, const ConvArgs& a, const Params& prm, cudaStream_t stream) {
  with_tile(shape, a.problem, [&](auto config) {
    implicit_gemm::launch_for<decltype(config), kF32Out>(a, prm, stream);
  });
}

}  // namespace

std::string ImplicitGemmAlgorithm::why_not(const Problem& p, Device device) const {
  std::string why = why_not_problem(p, device);
  if (why.empty() && wgmma()) why = why_not_sm90(p, device, shape_);
  if (why.empty() && shape_ == TileShape::sm90_im2col) {
    const Geometry geo = geometry(p);
    implicit_gemm::Im2colBox box;
    why = implicit_gemm::why_not_im2col(geo, implicit_gemm::affine_taps(geo, 0), p.groups,
                                        dtype_size(p.dtype), WsWideTile::kRowBytes, box);
  }
  return why;
}

std::string ImplicitGemmAlgorithm::why_not_options(const Problem& p, const Options& o) const {
  // The wgmma kernels multiply fp32 in TF32 only (three TF32 products, the exact mode of the
  // mma.sync kernels, would need three times the MMAs and a split of every element).
  if (wgmma() && p.dtype == DType::f32 && o.fp32_math != Fp32Math::tf32)
    return "multiplies fp32 as TF32 only (fp32_math=tf32); exact fp32 runs on cuda_implicit_gemm";
  return {};
}

std::string ImplicitGemmAlgorithm::why_not_args(const ConvArgs& a) const {
  std::string why = why_not_args_of(a);
  if (why.empty() && wgmma())
    for (int i = 0; i < 4; ++i)
      if (a.weight.shape[i] > 1 && a.weight.strides[i] == 0)
        return "weight stride " + std::to_string(i) +
               " is 0 (a broadcast weight); the tensor copy engine needs positive strides";
  if (why.empty() && shape_ == TileShape::sm90_im2col)
    why = why_not_im2col_input(a.input, a.problem.dtype);
  return why;
}

double ImplicitGemmAlgorithm::estimate_ms(const Problem& p, Device, const Options& o) const {
  // The rate this kernel reaches with full tiles, less when channel blocks or output-channel
  // tiles are partly empty.
  const auto [row_bytes, bn] = with_tile(shape_, p, [](auto config) {
    using C = decltype(config);
    return std::pair<int64_t, int64_t>(C::kRowBytes, C::kBN);
  });
  const double fill = channel_fill(p, row_bytes);
  const double ofill =
      static_cast<double>(p.og()) / static_cast<double>((p.og() + bn - 1) / bn * bn);
  return p.flops() / (cost::implicit_gemm_tflops(p, o.fp32_math, shape_, row_bytes, bn) * 1e9 *
                      fill * ofill) +
         cost::kLaunchMs;
}

void ImplicitGemmAlgorithm::run(const ConvArgs& a) const {
  DeviceScope scope(a.device.index);
  const auto stream = static_cast<cudaStream_t>(a.options.stream);
  Params prm = params_of(a, a.output, 0, static_cast<int>(a.problem.k[0]), epilogue_params(a));
  prm.im2col = shape_ == TileShape::sm90_im2col;  // the launch encodes the input's map
  launch_shape<false>(shape_, a, prm, stream);
  write_next_frame_cache(a, stream);
}

std::string DepthTap2dAlgorithm::why_not(const Problem& p, Device device) const {
  if (p.dims != 3) return "needs a 3D problem";
  return why_not_problem(p, device);
}

std::string DepthTap2dAlgorithm::why_not_args(const ConvArgs& a) const {
  return why_not_args_of(a);
}

double DepthTap2dAlgorithm::estimate_ms(const Problem& p, Device device, const Options& o) const {
  // The same arithmetic in KD launches, plus an fp32 accumulator written and read per tap.
  const double acc_bytes = static_cast<double>(p.n * p.out[0] * p.out[1] * p.out[2] * p.o) * 4.0;
  return ImplicitGemmAlgorithm(TileShape::wide).estimate_ms(p, device, o) +
         p.k[0] * (cost::memory_ms(2 * acc_bytes) + cost::kLaunchMs);
}

void DepthTap2dAlgorithm::run(const ConvArgs& a) const {
  const Problem& p = a.problem;
  DeviceScope scope(a.device.index);
  const auto stream = static_cast<cudaStream_t>(a.options.stream);
  // The taps sum into a zeroed fp32 buffer; one store then applies the epilogue and rounds it into
  // the output (adding to it under accumulate).
  const size_t bytes = size_t(p.n * p.out[0] * p.out[1] * p.out[2] * p.o) * sizeof(float);
  StreamBuffer acc(bytes, stream);
  VCONV_CUDA_CHECK(cudaMemsetAsync(acc.get<float>(), 0, bytes, stream));
  const View5 acc_view = contiguous_output(p, acc.get<float>());
  // One launch per depth tap, each adding its 2D conv over the frame-shifted input into fp32.
  for (int kd = 0; kd < p.k[0]; ++kd)
    launch_shape<true>(TileShape::wide, a, params_of(a, acc_view, kd, kd + 1, partial_sum_params()),
                       stream);
  const RowGrid grid = RowGrid::whole(p);
  store_rows(p.dtype, acc.get<float>(), grid.size(), rows_of(grid), 0, tensor_ref(a.output), p.o, 0,
             epilogue_params(a), stream);
  write_next_frame_cache(a, stream);
}

}  // namespace vconv::cuda

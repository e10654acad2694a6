#include "cuda/check.h"
#include "cuda/conv_implicit_gemm.h"
#include "cuda/cost_model.h"
#include "cuda/device_scope.h"
#include "cuda/implicit_gemm/kernel.cuh"

namespace vconv::cuda {
namespace {

using implicit_gemm::NarrowTile;
using implicit_gemm::Params;
using implicit_gemm::WideTile;

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
// 16 bytes.
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
  return {};
}

// The share of each k-block that holds real channels when k-blocks are row_bytes deep.
double channel_fill(const Problem& p, int64_t row_bytes) {
  const int64_t kbk = row_bytes / dtype_size(p.dtype);
  return static_cast<double>(p.cg()) / static_cast<double>((p.cg() + kbk - 1) / kbk * kbk);
}

// The wide tile takes the k-block depth its channels fill better (the deeper one on a tie).
bool wide_shallow(const Problem& p) {
  return channel_fill(p, implicit_gemm::WideShallowTile::kRowBytes) >
         channel_fill(p, WideTile::kRowBytes);
}

Params params_of(const ConvArgs& a, const View5& out, int kd_begin, int kd_end, bool accumulate) {
  const Problem& p = a.problem;
  return Params{tensor_ref(a.input),
                tensor_ref(a.weight),
                tensor_ref(out),
                geometry(p),
                p.n * p.out[0] * p.out[1] * p.out[2],
                kd_begin,
                kd_end,
                accumulate};
}

template <typename C, typename Mma, typename Out>
void launch(const Params& prm, int64_t groups, cudaStream_t stream) {
  auto kernel = implicit_gemm::conv_kernel<C, Mma, Out>;
  VCONV_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmemBytes));
  const dim3 grid(static_cast<unsigned>((prm.m + C::kBM - 1) / C::kBM),
                  static_cast<unsigned>((prm.geo.og + C::kBN - 1) / C::kBN),
                  static_cast<unsigned>(groups));
  kernel<<<grid, C::kThreads, C::kSmemBytes, stream>>>(prm);
  VCONV_CUDA_CHECK_LAUNCH();
}

// Dispatch on the input type and fp32 mode; the output is the input's type or an fp32
// accumulator.
template <typename C, bool kF32Out>
void launch_for(DType t, Fp32Math math, const Params& prm, int64_t groups, cudaStream_t stream) {
  using implicit_gemm::MmaBf16;
  using implicit_gemm::MmaF16;
  using implicit_gemm::MmaTf32;
  using implicit_gemm::MmaTf32x3;
  switch (t) {
    case DType::bf16:
      return launch<C, MmaBf16, std::conditional_t<kF32Out, float, BFloat16>>(prm, groups, stream);
    case DType::f16:
      return launch<C, MmaF16, std::conditional_t<kF32Out, float, Half>>(prm, groups, stream);
    case DType::f32:
      if (math == Fp32Math::tf32) return launch<C, MmaTf32, float>(prm, groups, stream);
      return launch<C, MmaTf32x3, float>(prm, groups, stream);
  }
}

// Rounds an fp32 accumulator (contiguous [N, OD, OH, OW, O]) into the output, or loads the
// output into it (accumulate).
template <typename T>
__global__ void accumulator_kernel(float* acc, TensorRef out, Geometry geo, int64_t o, bool load,
                                   bool from_zero) {
  const int64_t total = geo.n * geo.out[0] * geo.out[1] * geo.out[2] * o;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t n, od, oh, ow;
    decode_row(geo, i / o, n, od, oh, ow);
    const int64_t c = i % o;
    T* dst = static_cast<T*>(out.data) + out.offset(n, od, oh, ow, c);
    if (load)
      acc[i] = from_zero ? 0.0f : to_float(*dst);
    else
      *dst = from_float<T>(acc[i]);
  }
}

void accumulator_pass(const ConvArgs& a, float* acc, bool load, cudaStream_t s) {
  const Problem& p = a.problem;
  const int64_t total = p.n * p.out[0] * p.out[1] * p.out[2] * p.o;
  const Geometry geo = geometry(p);
  const bool from_zero = !a.options.accumulate;
  if (p.dtype == DType::f32)
    accumulator_kernel<float>
        <<<grid_for(total, 256), 256, 0, s>>>(acc, tensor_ref(a.output), geo, p.o, load, from_zero);
  else if (p.dtype == DType::bf16)
    accumulator_kernel<BFloat16>
        <<<grid_for(total, 256), 256, 0, s>>>(acc, tensor_ref(a.output), geo, p.o, load, from_zero);
  else
    accumulator_kernel<Half>
        <<<grid_for(total, 256), 256, 0, s>>>(acc, tensor_ref(a.output), geo, p.o, load, from_zero);
  VCONV_CUDA_CHECK_LAUNCH();
}

}  // namespace

std::string ImplicitGemmAlgorithm::why_not(const Problem& p, Device device) const {
  return why_not_problem(p, device);
}

std::string ImplicitGemmAlgorithm::why_not_args(const ConvArgs& a) const {
  return why_not_args_of(a);
}

double ImplicitGemmAlgorithm::estimate_ms(const Problem& p, Device, const Options& o) const {
  // The rate this kernel reaches with full tiles, less when channel blocks or output-channel
  // tiles are partly empty.
  const bool wide = shape_ == TileShape::wide;
  const double fill = !wide             ? channel_fill(p, NarrowTile::kRowBytes)
                      : wide_shallow(p) ? channel_fill(p, implicit_gemm::WideShallowTile::kRowBytes)
                                        : channel_fill(p, WideTile::kRowBytes);
  const int64_t bn = wide ? WideTile::kBN : NarrowTile::kBN;
  const double ofill =
      static_cast<double>(p.og()) / static_cast<double>((p.og() + bn - 1) / bn * bn);
  return p.flops() /
             (cost::implicit_gemm_tflops(p.dtype, o.fp32_math, shape_ == TileShape::narrow) * 1e9 *
              fill * ofill) +
         cost::kLaunchMs;
}

void ImplicitGemmAlgorithm::run(const ConvArgs& a) const {
  DeviceScope scope(a.device.index);
  const auto stream = static_cast<cudaStream_t>(a.options.stream);
  const Params prm =
      params_of(a, a.output, 0, static_cast<int>(a.problem.k[0]), a.options.accumulate);
  const DType t = a.problem.dtype;
  const Fp32Math math = a.options.fp32_math;
  if (shape_ == TileShape::wide && wide_shallow(a.problem))
    launch_for<implicit_gemm::WideShallowTile, false>(t, math, prm, a.problem.groups, stream);
  else if (shape_ == TileShape::wide)
    launch_for<WideTile, false>(t, math, prm, a.problem.groups, stream);
  else
    launch_for<NarrowTile, false>(t, math, prm, a.problem.groups, stream);
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
  StreamBuffer acc(size_t(p.n * p.out[0] * p.out[1] * p.out[2] * p.o * 4), stream);
  const View5 acc_view = contiguous_output(p, acc.get<float>());
  accumulator_pass(a, acc.get<float>(), true, stream);
  // One launch per depth tap, each adding its 2D conv over the frame-shifted input into fp32.
  for (int kd = 0; kd < p.k[0]; ++kd) {
    const Params prm = params_of(a, acc_view, kd, kd + 1, true);
    if (wide_shallow(p))
      launch_for<implicit_gemm::WideShallowTile, true>(p.dtype, a.options.fp32_math, prm, p.groups,
                                                       stream);
    else
      launch_for<WideTile, true>(p.dtype, a.options.fp32_math, prm, p.groups, stream);
  }
  accumulator_pass(a, acc.get<float>(), false, stream);
}

}  // namespace vconv::cuda

#include "cuda/tensor_map.h"

#include <cuda_runtime.h>

#include <array>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "cuda/check.h"

namespace vconv::cuda {
namespace {

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                   const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                   const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                   CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeTiled from the driver the runtime uses (no link to libcuda).
EncodeTiledFn encode_tiled() {
  static const EncodeTiledFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    VCONV_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000,
                                                      cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || !f)
      throw DeviceError("tensor map: the driver has no cuTensorMapEncodeTiled");
    return reinterpret_cast<EncodeTiledFn>(f);
  }();
  return fn;
}

using EncodeIm2colFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                    const cuuint64_t*, const cuuint64_t*, const int*, const int*,
                                    cuuint32_t, cuuint32_t, const cuuint32_t*,
                                    CUtensorMapInterleave, CUtensorMapSwizzle,
                                    CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeIm2col, likewise.
EncodeIm2colFn encode_im2col() {
  static const EncodeIm2colFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    VCONV_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeIm2col", &f, 12000,
                                                      cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || !f)
      throw DeviceError("tensor map: the driver has no cuTensorMapEncodeIm2col");
    return reinterpret_cast<EncodeIm2colFn>(f);
  }();
  return fn;
}

// Everything an encoding depends on.
struct MapKey {
  const void* data;
  std::array<cuuint64_t, 5> dims;
  std::array<cuuint64_t, 4> strides;
  std::array<cuuint32_t, 5> box;
  DType dtype;
  bool operator<(const MapKey& o) const {
    if (data != o.data) return data < o.data;
    if (dims != o.dims) return dims < o.dims;
    if (strides != o.strides) return strides < o.strides;
    if (box != o.box) return box < o.box;
    return dtype < o.dtype;
  }
};

// Bounded: cleared whole when full (a model has a few hundred weights).
constexpr size_t kCapacity = 4096;
std::mutex cache_mutex;
std::map<MapKey, CUtensorMap> cache;
int64_t encodings = 0;

}  // namespace

CUtensorMap weight_tensor_map(const View5& w, DType dtype, int row_bytes, int rows) {
  const int64_t esize = dtype_size(dtype);
  MapKey key{w.data,
             {cuuint64_t(w.shape[4]), cuuint64_t(w.shape[3]), cuuint64_t(w.shape[2]),
              cuuint64_t(w.shape[1]), cuuint64_t(w.shape[0])},
             {},
             {cuuint32_t(row_bytes / esize), 1, 1, 1, cuuint32_t(rows)},
             dtype};
  // Byte strides of dims 1..4; a dim of extent 1 gets the stride it would have if contiguous
  // (any multiple of 16 is valid for it, and its own may not be).
  int64_t span = w.shape[4] * esize;
  for (int i = 0; i < 4; ++i) {
    const int view_dim = 3 - i;
    key.strides[i] = cuuint64_t(w.shape[view_dim] > 1 ? w.strides[view_dim] * esize : span);
    span = int64_t(key.strides[i]) * w.shape[view_dim];
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  const cuuint32_t unit[5] = {1, 1, 1, 1, 1};
  CUtensorMap map;
  const CUresult r = encode_tiled()(
      &map,
      dtype == DType::bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 5,
      const_cast<void*>(w.data), key.dims.data(), key.strides.data(), key.box.data(), unit,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw DeviceError("tensor map: cuTensorMapEncodeTiled failed for the weight (CUresult " +
                      std::to_string(int(r)) + ")");
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (cache.size() >= kCapacity) cache.clear();
  cache.emplace(key, map);
  ++encodings;
  return map;
}

bool input_im2col_map(const View5& in, DType dtype, const Geometry& geo, bool affine_taps,
                      int64_t groups, int row_bytes, int pixels, CUtensorMap& map,
                      std::string* why) {
  const auto refuse = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  const int64_t esize = dtype_size(dtype);
  if (!affine_taps) return refuse("the input is read through a map other than zero padding");
  if (groups > 1 && geo.cg * esize % row_bytes != 0)
    return refuse("a k-block would straddle two groups' channels");
  if (reinterpret_cast<uintptr_t>(in.data) % 16 != 0 || in.strides[4] != 1)
    return refuse("the input is not 16-byte aligned with unit channel stride");
  // Innermost first: {C, W, H, D, N}; byte strides of W, H, D, N (a dim of extent 1 takes the
  // stride it would have if packed: any multiple of 16 is valid for it).
  const cuuint64_t dims[5] = {cuuint64_t(in.shape[4]), cuuint64_t(in.shape[3]),
                              cuuint64_t(in.shape[2]), cuuint64_t(in.shape[1]),
                              cuuint64_t(in.shape[0])};
  cuuint64_t strides[4];
  int64_t span = in.shape[4] * esize;
  for (int i = 0; i < 4; ++i) {
    const int view_dim = 3 - i;
    strides[i] = cuuint64_t(in.shape[view_dim] > 1 ? in.strides[view_dim] * esize : span);
    if (strides[i] % 16 != 0 || strides[i] >= (cuuint64_t{1} << 40))
      return refuse("an input stride is not a multiple of 16 bytes below 2^40");
    span = int64_t(strides[i]) * in.shape[view_dim];
  }
  // Per spatial dimension, innermost first (W, H, D: geometry slots 2, 1, 0): the bounding box of
  // tap 0 is [lower, in - 1 + upper] = [-pad_lo, (out - 1) * stride - pad_lo], stepped by the
  // stride; a tap's offset (tap * dilation) shifts it.
  int lower[3], upper[3];
  cuuint32_t element_strides[5] = {1, 1, 1, 1, 1};
  for (int i = 0; i < 3; ++i) {
    const DimMap& d = geo.dim[2 - i];
    const int64_t lo = -d.pad_lo, hi = (geo.out[2 - i] - 1) * d.stride + 1 - d.in - d.pad_lo;
    // The ranges a 5D map's corners take, and its traversal strides.
    if (lo < -16 || lo > 15 || hi < -16 || hi > 15 || d.stride > 8)
      return refuse("padding or stride outside the copy engine's im2col ranges");
    if ((geo.k[2 - i] - 1) * d.kdil > 65535) return refuse("a tap offset above 65535");
    lower[i] = int(lo);
    upper[i] = int(hi);
    element_strides[1 + i] = cuuint32_t(d.stride);
  }
  const CUresult r = encode_im2col()(
      &map,
      dtype == DType::bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 5,
      const_cast<void*>(in.data), dims, strides, lower, upper, cuuint32_t(row_bytes / esize),
      cuuint32_t(pixels), element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    return refuse("cuTensorMapEncodeIm2col refused it (CUresult " + std::to_string(int(r)) + ")");
  return true;
}

int64_t weight_tensor_map_encodings() {
  std::lock_guard<std::mutex> lock(cache_mutex);
  return encodings;
}

}  // namespace vconv::cuda

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

// A driver function by name, from the driver the runtime uses (no link to libcuda).
template <typename Fn>
Fn driver_function(const char* name) {
  void* f = nullptr;
  cudaDriverEntryPointQueryResult found{};
  VCONV_CUDA_CHECK(cudaGetDriverEntryPointByVersion(name, &f, 12000, cudaEnableDefault, &found));
  if (found != cudaDriverEntryPointSuccess || !f)
    throw DeviceError(std::string("tensor map: the driver has no ") + name);
  return reinterpret_cast<Fn>(f);
}

EncodeTiledFn encode_tiled() {
  static const auto fn = driver_function<EncodeTiledFn>("cuTensorMapEncodeTiled");
  return fn;
}

using EncodeIm2colFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                    const cuuint64_t*, const cuuint64_t*, const int*, const int*,
                                    cuuint32_t, cuuint32_t, const cuuint32_t*,
                                    CUtensorMapInterleave, CUtensorMapSwizzle,
                                    CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeIm2colFn encode_im2col() {
  static const auto fn = driver_function<EncodeIm2colFn>("cuTensorMapEncodeIm2col");
  return fn;
}

// A View5 as a 5D map sees it, innermost first: {C, W, H, D, N}, and the byte strides of W, H,
// D, N (a dim of extent 1 takes the stride it would have if packed: any multiple of 16 is valid
// for it, and its own may not be).
struct MapDims {
  cuuint64_t dims[5];
  cuuint64_t strides[4];
};
MapDims map_dims(const View5& in, int64_t esize) {
  MapDims d{{cuuint64_t(in.shape[4]), cuuint64_t(in.shape[3]), cuuint64_t(in.shape[2]),
             cuuint64_t(in.shape[1]), cuuint64_t(in.shape[0])},
            {}};
  int64_t span = in.shape[4] * esize;
  for (int i = 0; i < 4; ++i) {
    const int view_dim = 3 - i;
    d.strides[i] = cuuint64_t(in.shape[view_dim] > 1 ? in.strides[view_dim] * esize : span);
    span = int64_t(d.strides[i]) * in.shape[view_dim];
  }
  return d;
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

// The map's element type: the dtype's; fp32 as TFLOAT32, which the copy engine rounds to TF32 as
// it loads (the wgmma kernels multiply fp32 as TF32 only; to nearest, as
// CudaSmall.Tf32RoundsToNearestOnEveryAlgorithm checks).
CUtensorMapDataType map_data_type(DType dtype) {
  switch (dtype) {
    case DType::bf16:
      return CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
    case DType::f16:
      return CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
    case DType::f32:
      break;
  }
  return CU_TENSOR_MAP_DATA_TYPE_TFLOAT32;
}

// Bounded: cleared whole when full (a model has a few hundred weights).
constexpr size_t kCapacity = 4096;
std::mutex cache_mutex;
std::map<MapKey, CUtensorMap> cache;
int64_t encodings = 0;

}  // namespace

CUtensorMap weight_tensor_map(const View5& w, DType dtype, int row_bytes, int rows) {
  const int64_t esize = dtype_size(dtype);
  const MapDims d = map_dims(w, esize);
  MapKey key{w.data,
             {d.dims[0], d.dims[1], d.dims[2], d.dims[3], d.dims[4]},
             {d.strides[0], d.strides[1], d.strides[2], d.strides[3]},
             {cuuint32_t(row_bytes / esize), 1, 1, 1, cuuint32_t(rows)},
             dtype};
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  const cuuint32_t unit[5] = {1, 1, 1, 1, 1};
  CUtensorMap map;
  const CUresult r = encode_tiled()(
      &map, map_data_type(dtype), 5, const_cast<void*>(w.data), key.dims.data(), key.strides.data(),
      key.box.data(), unit, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw DeviceError("tensor map: cuTensorMapEncodeTiled failed for the weight (CUresult " +
                      std::to_string(int(r)) + ")");
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (cache.size() >= kCapacity) cache.clear();
  cache.emplace(key, map);
  ++encodings;
  return map;
}

std::string why_not_im2col_input(const View5& in, DType dtype) {
  if (reinterpret_cast<uintptr_t>(in.data) % 16 != 0 || in.strides[4] != 1)
    return "the input is not 16-byte aligned with a unit channel stride";
  for (int i = 0; i < 4; ++i)
    if (in.shape[i] > 1 && in.strides[i] == 0)
      return "input stride " + std::to_string(i) +
             " is 0 (a broadcast input); the tensor copy engine needs positive strides";
  for (const cuuint64_t s : map_dims(in, dtype_size(dtype)).strides)
    if (s % 16 != 0 || s >= (cuuint64_t{1} << 40))
      return "an input stride is not a multiple of 16 bytes below 2^40";
  return {};
}

CUtensorMap input_im2col_map(const View5& in, DType dtype, const implicit_gemm::Im2colBox& box,
                             int row_bytes, int pixels) {
  const MapDims d = map_dims(in, dtype_size(dtype));
  const cuuint32_t element_strides[5] = {1, box.stride[0], box.stride[1], box.stride[2], 1};
  CUtensorMap map;
  const CUresult r = encode_im2col()(
      &map, map_data_type(dtype), 5, const_cast<void*>(in.data), d.dims, d.strides, box.lower,
      box.upper, cuuint32_t(row_bytes / dtype_size(dtype)), cuuint32_t(pixels), element_strides,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw DeviceError("tensor map: cuTensorMapEncodeIm2col failed for the input (CUresult " +
                      std::to_string(int(r)) + ")");
  return map;
}

int64_t weight_tensor_map_encodings() {
  std::lock_guard<std::mutex> lock(cache_mutex);
  return encodings;
}

}  // namespace vconv::cuda

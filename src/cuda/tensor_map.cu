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

int64_t weight_tensor_map_encodings() {
  std::lock_guard<std::mutex> lock(cache_mutex);
  return encodings;
}

}  // namespace vconv::cuda

#include <algorithm>

#include "core/stride_phase.h"
#include "cuda/check.h"
#include "cuda/conv_gemm_fallback.h"
#include "cuda/cost_model.h"
#include "cuda/cublas_handle.h"
#include "cuda/device_scope.h"
#include "cuda/epilogue.cuh"
#include "cuda/im2col.cuh"

namespace vconv::cuda {
namespace {

constexpr int kThreads = 256;

cudaDataType_t cuda_type(DType t) {
  return t == DType::f32 ? CUDA_R_32F : t == DType::f16 ? CUDA_R_16F : CUDA_R_16BF;
}

// Row-major C[rows][og] (fp32) = A[rows][k] * W[og][k]^T, as cuBLAS's column-major
// C^T (og x rows) = W (og x k) * A^T (k x rows).
void gemm(cublasHandle_t h, const ConvArgs& a, int64_t rows, int64_t og, int64_t k, const void* A,
          int64_t lda, const void* W, float* C) {
  for (int64_t v : {rows, og, k, lda})
    if (v > INT32_MAX)
      throw Error("cuda_gemm_fallback: GEMM dimension " + std::to_string(v) +
                  " exceeds cuBLAS's 32-bit index; lower options.workspace_bytes");
  const float alpha = 1.0f, beta = 0.0f;
  const DType t = a.problem.dtype;
  const cublasComputeType_t compute = t == DType::f32 && a.options.fp32_math == Fp32Math::tf32
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F;
  VCONV_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(og), int(rows), int(k), &alpha,
                                  W, cuda_type(t), int(k), A, cuda_type(t), int(lda), &beta, C,
                                  CUDA_R_32F, int(og), compute, CUBLAS_GEMM_DEFAULT));
}

template <typename E>
void launch_im2col(const ConvArgs& a, const Phase& ph, int64_t g, int64_t r0, int64_t n, void* col,
                   cudaStream_t s) {
  const int64_t total = n * ph.tap_count() * a.problem.cg();
  im2col_kernel<E><<<grid_for(total, kThreads), kThreads, 0, s>>>(
      tensor_ref(a.input), geometry(a.problem), rows_of(ph.rows), taps_of(ph), g, r0, n,
      static_cast<E*>(col));
  VCONV_CUDA_CHECK_LAUNCH();
}

template <typename E>
void launch_pack(const ConvArgs& a, const Phase& ph, int64_t g, void* packed, cudaStream_t s) {
  const int64_t total = a.problem.og() * ph.tap_count() * a.problem.cg();
  pack_weight_kernel<E><<<grid_for(total, kThreads), kThreads, 0, s>>>(
      tensor_ref(a.weight), geometry(a.problem), taps_of(ph), g, static_cast<E*>(packed));
  VCONV_CUDA_CHECK_LAUNCH();
}

// Dispatches on the storage type: 2-byte elements are copied as uint16_t.
void im2col(const ConvArgs& a, const Phase& ph, int64_t g, int64_t r0, int64_t n, void* col,
            cudaStream_t s) {
  if (a.problem.dtype == DType::f32)
    launch_im2col<float>(a, ph, g, r0, n, col, s);
  else
    launch_im2col<uint16_t>(a, ph, g, r0, n, col, s);
}

void pack(const ConvArgs& a, const Phase& ph, int64_t g, void* packed, cudaStream_t s) {
  if (a.problem.dtype == DType::f32)
    launch_pack<float>(a, ph, g, packed, s);
  else
    launch_pack<uint16_t>(a, ph, g, packed, s);
}

void store(const ConvArgs& a, const float* buf, int64_t n, const Phase& ph, int64_t r0, int64_t g,
           cudaStream_t s) {
  store_rows(a.problem.dtype, buf, n, rows_of(ph.rows), r0, tensor_ref(a.output), a.problem.og(), g,
             epilogue_params(a), s);
}

// A 1x1x1 conv reading each input row once, as it is stored (not upsampled): its GEMM reads the
// input in place.
bool is_pointwise(const Problem& p) {
  for (int i = 0; i < 3; ++i)
    if (p.k[i] != 1 || p.stride[i] != 1 || p.idil[i] != 1 || p.pad_lo[i] != 0 || p.pad_hi[i] != 0 ||
        p.up[i] != 1)
      return false;
  return true;
}

}  // namespace

std::string GemmFallbackAlgorithm::why_not(const Problem&, Device device) const {
  if (device.type != DeviceType::cuda) return "runs on CUDA devices only";
  return {};
}

double GemmFallbackAlgorithm::estimate_ms(const Problem& p, Device, const Options& o) const {
  // Measured end to end; pointwise convs skip im2col and run closer to cuBLAS's own rate.
  const double ms = cost::fallback_ms(p.flops(), p.dtype, o.fp32_math == Fp32Math::tf32,
                                      static_cast<double>(p.og())) +
                    cost::kLaunchMs * 4;
  return is_pointwise(p) ? ms / 4 : ms;
}

void GemmFallbackAlgorithm::run(const ConvArgs& a) const {
  const Problem& p = a.problem;
  DeviceScope scope(a.device.index);
  auto stream = static_cast<cudaStream_t>(a.options.stream);
  cublasHandle_t h = cublas_handle(a.device.index);
  VCONV_CUBLAS_CHECK(cublasSetStream(h, stream));
  const int64_t esize = dtype_size(p.dtype);
  const bool pointwise = is_pointwise(p) && rows_uniform(a.input);
  for (const Phase& ph : stride_phases(p)) {
    const int64_t k = ph.tap_count() * p.cg();
    const int64_t total = ph.rows.size();
    // Rows per chunk: the im2col block and the fp32 result fit the workspace; a pointwise chunk
    // stays within one batch index so that one leading dimension addresses it.
    const int64_t frame_rows = ph.rows.count[0] * ph.rows.count[1] * ph.rows.count[2];
    const int64_t row_bytes = (pointwise ? 0 : k * esize) + p.og() * 4;
    int64_t chunk = std::max<int64_t>(1, std::min(total, a.options.workspace_bytes / row_bytes));
    if (pointwise) chunk = std::min(chunk, frame_rows);
    StreamBuffer col(pointwise ? 0 : size_t(chunk * k * esize), stream);
    StreamBuffer out(size_t(chunk * p.og() * 4), stream);
    StreamBuffer packed(size_t(p.og() * k * esize), stream);
    for (int64_t g = 0; g < p.groups; ++g) {
      if (k > 0) pack(a, ph, g, packed.get<void>(), stream);
      for (int64_t r0 = 0, r1 = 0; r0 < total; r0 = r1) {
        r1 = std::min(total, r0 + chunk);
        if (pointwise) r1 = std::min(r1, (r0 / frame_rows + 1) * frame_rows);
        const int64_t n = r1 - r0;
        if (k == 0) {  // every tap of this phase reads an inserted zero
          store(a, nullptr, n, ph, r0, g, stream);
          continue;
        }
        const void* A = col.get<void>();
        int64_t lda = k;
        if (pointwise) {
          int64_t c[4];
          rows_of(ph.rows).coord(r0, c);
          A = static_cast<const char*>(a.input.data) +
              a.input.offset(c[0], c[1], c[2], c[3], g * p.cg()) * esize;
          lda = n == 1 ? std::max(a.input.strides[3], k) : a.input.strides[3];
        } else {
          im2col(a, ph, g, r0, n, col.get<void>(), stream);
        }
        gemm(h, a, n, p.og(), k, A, lda, packed.get<void>(), out.get<float>());
        store(a, out.get<float>(), n, ph, r0, g, stream);
      }
    }
  }
}

}  // namespace vconv::cuda

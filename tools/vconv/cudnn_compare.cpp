#include "cudnn_compare.h"

#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/device_copy.h"
#include "vconv/error.h"

namespace vconv::cli {
namespace {

void check(cudnnStatus_t s, const char* call) {
  if (s != CUDNN_STATUS_SUCCESS)
    throw DeviceError(std::string("cuDNN: ") + call + ": " + cudnnGetErrorString(s));
}
void check(cudaError_t e, const char* call) {
  if (e != cudaSuccess) throw DeviceError(std::string(call) + ": " + cudaGetErrorString(e));
}

}  // namespace

std::string cudnn_why_not(const Problem& p) {
  // The legacy API takes int dimensions and refuses tensors of 2^31 elements or more.
  const int64_t big = int64_t{1} << 31;
  if (p.n * p.in[0] * p.in[1] * p.in[2] * p.c >= big ||
      p.n * p.out[0] * p.out[1] * p.out[2] * p.o >= big)
    return "tensors of 2^31 elements or more";
  for (int i = 0; i < 3; ++i) {
    if (p.idil[i] != 1) return "compared without input dilation";
    if (p.mode[i] != PadMode::zeros && (p.pad_lo[i] > 0 || p.pad_hi[i] > 0))
      return "cuDNN pads with zeros only";
    if (p.pad_lo[i] < 0 || p.pad_hi[i] < 0) return "compared without negative padding";
    const int64_t pad = std::max(p.pad_lo[i], p.pad_hi[i]);
    if ((pad - p.pad_lo[i]) % p.stride[i] != 0)
      return "asymmetric padding not aligned to the stride";
  }
  return {};
}

double cudnn_conv_ms(const Problem& p, const TensorView& x, const TensorView& w,
                     const TensorView& y, Fp32Math math, bool* exact_output) {
  cudnnHandle_t h;
  check(cudnnCreate(&h), "cudnnCreate");
  const cudnnDataType_t dt = p.dtype == DType::f32   ? CUDNN_DATA_FLOAT
                             : p.dtype == DType::f16 ? CUDNN_DATA_HALF
                                                     : CUDNN_DATA_BFLOAT16;
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  check(cudnnCreateTensorDescriptor(&xd), "tensor");
  check(cudnnCreateTensorDescriptor(&yd), "tensor");
  check(cudnnCreateFilterDescriptor(&wd), "filter");
  check(cudnnCreateConvolutionDescriptor(&cd), "conv");
  const int xdims[5] = {int(p.n), int(p.c), int(p.in[0]), int(p.in[1]), int(p.in[2])};
  const int wdims[5] = {int(p.o), int(p.cg()), int(p.k[0]), int(p.k[1]), int(p.k[2])};
  int pad[3], stride[3], dil[3];
  *exact_output = true;
  for (int i = 0; i < 3; ++i) {
    pad[i] = int(std::max(p.pad_lo[i], p.pad_hi[i]));
    *exact_output &= p.pad_lo[i] == p.pad_hi[i];
    stride[i] = int(p.stride[i]);
    dil[i] = int(p.kdil[i]);
  }
  check(cudnnSetTensorNdDescriptorEx(xd, CUDNN_TENSOR_NHWC, dt, 5, xdims), "x desc");
  check(cudnnSetFilterNdDescriptor(wd, dt, CUDNN_TENSOR_NHWC, 5, wdims), "w desc");
  check(cudnnSetConvolutionNdDescriptor(cd, 3, pad, stride, dil,
                                        p.flip ? CUDNN_CONVOLUTION : CUDNN_CROSS_CORRELATION,
                                        CUDNN_DATA_FLOAT),
        "conv desc");
  check(cudnnSetConvolutionGroupCount(cd, int(p.groups)), "groups");
  // Tensor cores for bf16/f16 (as PyTorch asks), TF32 or plain FMA for fp32.
  const cudnnMathType_t mt = p.dtype != DType::f32     ? CUDNN_TENSOR_OP_MATH
                             : math == Fp32Math::exact ? CUDNN_FMA_MATH
                                                       : CUDNN_DEFAULT_MATH;
  check(cudnnSetConvolutionMathType(cd, mt), "math");
  int ydims[5];
  check(cudnnGetConvolutionNdForwardOutputDim(cd, xd, wd, 5, ydims), "output dims");
  check(cudnnSetTensorNdDescriptorEx(yd, CUDNN_TENSOR_NHWC, dt, 5, ydims), "y desc");
  void* out = y.data;
  void* scratch = nullptr;
  if (!*exact_output) {
    size_t bytes = dtype_size(p.dtype);
    for (int d : ydims) bytes *= size_t(d);
    check(cudaMalloc(&scratch, bytes), "cudaMalloc");
    out = scratch;
  }
  int found = 0;
  cudnnConvolutionFwdAlgoPerf_t perf[8];
  check(cudnnFindConvolutionForwardAlgorithm(h, xd, wd, cd, yd, 8, &found, perf), "find");
  int best = -1;
  for (int i = 0; i < found; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS) {
      best = i;
      break;
    }
  if (best < 0) throw DeviceError("cuDNN found no algorithm for " + to_string(p));
  void* ws = nullptr;
  if (perf[best].memory) check(cudaMalloc(&ws, perf[best].memory), "cudaMalloc");
  const float alpha = 1.0f, beta = 0.0f;
  const double ms = testing::median_ms(Device::cuda(0), [&] {
    check(cudnnConvolutionForward(h, &alpha, xd, x.data, wd, w.data, cd, perf[best].algo, ws,
                                  perf[best].memory, &beta, yd, out),
          "forward");
  });
  cudaFree(ws);
  cudaFree(scratch);
  cudnnDestroyTensorDescriptor(xd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyConvolutionDescriptor(cd);
  cudnnDestroy(h);
  return ms;
}

}  // namespace vconv::cli

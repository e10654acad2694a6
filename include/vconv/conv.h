#pragma once
// The convolution entry points: conv() runs a problem, plan_conv() says which algorithm would run
// it and why, conv_reference() is the oracle every algorithm is tested against.
#include <string>
#include <vector>

#include "vconv/conv_params.h"
#include "vconv/problem.h"
#include "vconv/tensor_view.h"

namespace vconv {

// The error the caller accepts on fp32 inputs.
// exact (the default: fp32 means fp32): fp32 products and sums only, elementwise within
//   atol = rtol = 1e-4 of the float64 result for unit-normal inputs and reductions up to 4608
//   (MLX's test tolerance); on the CPU Winograd F(2x2, 3x3) at most, never F(4x4, 3x3).
// tf32: TF32-level error (10-bit mantissa products, fp32 accumulation; PyTorch's default for cuDNN
//   convolutions): GPUs multiply on tensor cores in TF32, the CPU may run Winograd F(4x4, 3x3),
//   whose error (up to 8e-5 of the output RMS elementwise) is well inside TF32's.
enum class Fp32Math { exact, tf32 };

// Parses "exact" or "tf32"; throws vconv::Error naming `argument` otherwise.
Fp32Math parse_fp32_math(const std::string& s, const char* argument = "fp32_math");

// The elementwise epilogue fused into a conv: each output element becomes
//   act(conv + bias[o]) + residual
// (bias of the conv's output channel o, residual at the element's stored position; computed in
// fp32 with one rounding to the output dtype at the end) and is then stored, or added to the
// output under Options::accumulate (out += act(conv + bias) + residual). The residual comes after
// the activation, as in diffusers' residual blocks (WanResidualBlock, ResnetBlock2D: the second
// conv's output plus the shortcut, no activation after the sum).
enum class Activation { none, silu };  // silu(v) = v / (1 + exp(-v))

struct Epilogue {
  TensorView bias;  // [O] contiguous, the input's dtype and device; no data means no bias
  Activation activation = Activation::none;
  // A tensor of the output's shape (after depth-to-space), the input's dtype and device, any
  // strides with a unit channel stride, apart from the output (out += conv is
  // Options::accumulate); no data means no residual.
  TensorView residual;
  bool empty() const {
    return bias.data == nullptr && activation == Activation::none && residual.data == nullptr;
  }
};

// The normalization of a Prologue.
enum class Norm {
  none,
  // GroupNorm(groups, eps, scale, shift) as torch.nn.GroupNorm: per sample n and group of C /
  // groups channels, the mean and (biased) variance over the group's channels and every spatial
  // position of the input; a[n, c] = scale[c] / sqrt(var + eps), b[n, c] = shift[c] - mean * a.
  group_norm,
  // RMS norm over the channels of each pixel as Wan does it (WanRMS_norm: F.normalize(x, dim=C)
  // * sqrt(C) * gamma + bias): s[n, pixel] = 1 / max(||x[n, pixel, :]||_2, eps),
  // a[c] = sqrt(C) * scale[c], b[c] = shift[c]. F.normalize's (Wan's) eps is 1e-12.
  rms_norm,
  // A per-channel scale and shift: a[c] = scale[c], b[c] = shift[c].
  scale_shift,
};

// The prologue fused into a conv's read of its input, before upsampling and padding:
//   x'[n, pixel, c] = act(x[n, pixel, c] * s[n, pixel] * a[n, c] + b[n, c])
// (s = 1 unless the norm says otherwise), computed in fp32 (the reference: double, statistics
// included) and rounded to the input's dtype, as the unfused sequence stores it. The conv then
// reads x' through its index map: padding holds the pad mode's value of x' (zero padding stays
// zero, replicate repeats x''s edge, reflect mirrors x'), inserted zeros (input dilation) stay
// zero. Statistics are those of this call's input; with a frame cache (a chunk), those of the
// chunk, as a chunked decoder that normalizes each chunk computes them (only per-pixel norms,
// rms_norm and scale_shift, make chunks equal one call). A frame cache holds frames after the
// prologue, as the models cache them: `previous` is read as it is, `next` receives x'.
struct Prologue {
  Norm norm = Norm::none;
  // group_norm: the number of groups, >= 1 and dividing C; 0 (the default) for the other norms.
  int64_t groups = 0;
  // group_norm: added to the variance; rms_norm: the smallest norm divided by; > 0.
  double eps = 1e-5;
  // [C] contiguous, the input's dtype and device: scale (gamma) and shift (beta); no data means
  // 1 and 0 (a norm without affine parameters). Only a norm takes them.
  TensorView scale, shift;
  Activation activation = Activation::none;
  bool empty() const { return norm == Norm::none && activation == Activation::none; }
};

// A streaming causal conv's cache of input frames, on the input's first spatial dimension (time).
// A long sequence split into chunks of any length >= 1, each run with the cache that the previous
// call wrote, gives bitwise what one call over the whole sequence gives. The problem must be the
// causal one: 3D, time stride 1, no input dilation in time, padding_lo[0] = F and padding_hi[0] =
// 0, where F = (KD - 1) * kernel_dilation[0] >= 1. The F padded frames before the chunk are then
// the cached ones; the first chunk (no `previous`) pads them with the pad mode as any call does.
struct FrameCache {
  // The last F frames of the previous chunk's conv input, [N, F, H, W, C], the input's dtype and
  // device, apart from the output; no data means the first chunk. Under zero time padding it may
  // hold fewer frames, P >= 1 (a sequence shorter than F so far): the F - P frames before them
  // are zeros.
  TensorView previous;
  // Receives the last F frames of (previous ++ this chunk), [N, F, H, W, C], for the next call
  // (from `previous` too when the chunk is shorter than F; the pad mode's frames on the first
  // chunk); apart from the input, the output and `previous` (swap two buffers between calls).
  // No data: not written.
  TensorView next;
  bool empty() const { return previous.data == nullptr && next.data == nullptr; }
};

struct Options {
  std::string algorithm;    // force an algorithm by name; empty lets the planner choose
  void* stream = nullptr;   // cudaStream_t for CUDA algorithms; nullptr is the default stream
  bool accumulate = false;  // output += conv(input, weight) instead of output = conv(...)
  // Scratch memory an algorithm may allocate on its device (im2col chunks, transformed tiles).
  int64_t workspace_bytes = int64_t{256} << 20;
  Fp32Math fp32_math = Fp32Math::exact;
  // Time every valid algorithm once per problem and device, and keep the fastest: in memory, and
  // in the file named by the environment variable VCONV_CACHE when it is set.
  bool autotune = false;
  Prologue prologue;  // norm and activation of the input as the conv reads it (none by default)
  Epilogue epilogue;  // bias, activation and residual applied before the store (none by default)
  FrameCache frame_cache;  // streaming causal conv (none by default)
};

struct Candidate {
  std::string name;
  bool valid = false;
  std::string why_not;     // empty when valid
  double estimate_ms = 0;  // cost model estimate, valid candidates only
};

struct Plan {
  std::string algorithm;  // the chosen algorithm
  std::string reason;     // why it was chosen
  // Empty, or the staging copy conv() makes of an input or weight whose channel stride is not 1
  // for the chosen algorithm, and why (the tensors' plan_conv() only).
  std::string staging;
  std::vector<Candidate> candidates;  // every registered algorithm, in registry order
  std::string to_string() const;
};

// Plans `problem` on `device`: the forced algorithm when options.algorithm names one (an error
// when it is not valid, saying why), else the valid algorithm with the smallest estimate.
Plan plan_conv(const Problem& problem, Device device, const Options& options = {});

// The plan conv() follows for this input and weight: plan_conv() of their problem, and
// Plan::staging when the chosen algorithm reads a staging copy of either. Their data is not read
// (any non-null address will do); options' tensors count only as present or not, as above.
Plan plan_conv(const TensorView& input, const TensorView& weight, const ConvParams& params,
               const Options& options = {});

// Every registered algorithm's verdict on `problem` (valid or why not, with its estimate); unlike
// plan_conv() it does not throw when none is valid.
std::vector<Candidate> conv_candidates(const Problem& problem, Device device,
                                       const Options& options = {});

// output = conv_general(input, weight, params), or output += ... under options.accumulate.
// The output view must have exactly the shape conv_output_shape() gives and the input's dtype.
// The input and the weight may have any strides (a channel stride other than 1 costs one staging
// copy for algorithms that read channels-last tensors only: Plan::staging); the output's channel
// stride must be 1.
void conv(const TensorView& input, const TensorView& weight, const TensorView& output,
          const ConvParams& params, const Options& options = {});

// The same through the reference algorithm: simple loops with double accumulation, the epilogue
// applied in double (CPU only).
void conv_reference(const TensorView& input, const TensorView& weight, const TensorView& output,
                    const ConvParams& params, bool accumulate = false,
                    const Epilogue& epilogue = {});

// The names of every registered algorithm, in the planner's order.
std::vector<std::string> algorithm_names();

}  // namespace vconv

#pragma once
// The interface every convolution algorithm implements, and the ordered registry of them.
// Algorithms see every problem as 3D (problem.h) and every tensor as a 5D strided view.
#include <array>
#include <string>
#include <vector>

#include "vconv/conv.h"

namespace vconv {

// A tensor seen as 5D: input [N, D, H, W, C], weight [O, KD, KH, KW, C/groups],
// output [N, OD, OH, OW, O]. Strides in elements; the innermost one is 1, except for an input or
// weight that an algorithm with reads_any_channel_stride() reads (core/staging.h).
struct View5 {
  void* data;
  std::array<int64_t, 5> shape, strides;
  int64_t offset(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e) const {
    return a * strides[0] + b * strides[1] + c * strides[2] + d * strides[3] + e * strides[4];
  }
};

struct ConvArgs {
  const Problem& problem;
  View5 input, weight, output;
  Device device;
  const Options& options;
  // The output's dtype: the problem's, or f32 where an algorithm runs under another one that keeps
  // partial sums in fp32 (depth_tap). Only algorithms with accepts_f32_output() see the latter.
  DType output_dtype;
};

// The parts of a call beyond the plain conv_general, each of which an algorithm applies or not.
enum class Fusion {
  epilogue,        // Options::epilogue's bias and activation
  residual,        // Options::epilogue.residual
  prologue,        // Options::prologue
  frame_cache,     // Options::frame_cache
  upsample,        // ConvParams::upsample (Problem::up)
  depth_to_space,  // ConvParams::depth_to_space (Problem::d2s)
};

// The fusions a call of `problem` under `options` asks for: the one owner of what counts as each.
std::vector<Fusion> fusions_of(const Problem& problem, const Options& options);

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual const char* name() const = 0;
  // Empty when this algorithm can run `problem` on `device`, else the reason it cannot.
  virtual std::string why_not(const Problem& problem, Device device) const = 0;
  // Empty when the caller's options allow this algorithm on `problem`, else why not (an accuracy
  // the caller did not accept: Options::fp32_math). Asked only where why_not() is empty.
  virtual std::string why_not_options(const Problem&, const Options&) const { return {}; }
  // Estimated run time in milliseconds; called only where why_not() and why_not_options() are
  // empty.
  virtual double estimate_ms(const Problem& problem, Device device,
                             const Options& options) const = 0;
  virtual void run(const ConvArgs& args) const = 0;
  // Empty when the tensors themselves suit this algorithm (alignment of pointers and strides),
  // else why not. Checked after planning; the planner then takes the next valid algorithm.
  virtual std::string why_not_args(const ConvArgs&) const { return {}; }
  // True when run() takes an f32 output for bf16/f16 inputs (ConvArgs::output_dtype).
  virtual bool accepts_f32_output() const { return false; }
  // True when run() applies `fusion` (none by default). An algorithm that does not is not valid
  // for a call that asks for it (why_not_planned says so), so a fusion is never silently ignored.
  virtual bool applies(Fusion) const { return false; }
  // True when run() reads an input and a weight of any channel stride (View5::strides[4]); for
  // the others conv() makes one staging copy of such a tensor first (core/staging.h). A property
  // of the tensors, not of the call's problem and options, so not a Fusion.
  virtual bool reads_any_channel_stride() const { return false; }
};

// Why `algorithm` cannot run `problem` on `device` under `options` (why_not, then
// why_not_options, then each fusion of fusions_of()), empty when it can: the one verdict the
// planner, the autotuner and choose_algorithm() use.
std::string why_not_planned(const Algorithm& algorithm, const Problem& problem, Device device,
                            const Options& options);

// The valid algorithm with the smallest estimate, for algorithms that run a sub-problem (the 2D
// convs under depth_tap, which take no epilogue: their caller applies it at its own final store).
// Throws vconv::Error when none is valid.
// Options say the math (fp32_math) the estimates assume.
const Algorithm& choose_algorithm(const Problem& problem, Device device, const Options& options,
                                  bool need_f32_output);

// Every registered algorithm, in the planner's order (src/algorithm_list.cpp).
const std::vector<const Algorithm*>& algorithms();

// The registered algorithm of that name, or nullptr.
const Algorithm* find_algorithm(const std::string& name);

// A contiguous [N, OD, OH, OW, O] view of `data` shaped as the problem's output (scratch and
// fp32 accumulators).
inline View5 contiguous_output(const Problem& p, void* data) {
  const int64_t w = p.o, h = p.out[2] * w, d = p.out[1] * h, n = p.out[0] * d;
  return View5{data, {p.n, p.out[0], p.out[1], p.out[2], p.o}, {n, d, h, w, 1}};
}

}  // namespace vconv

#pragma once
// Problems for tests, verification and benchmarks: random problems over every semantic, suite
// files, and the check of one algorithm against the reference.
#include <random>
#include <string>
#include <vector>

#include "common/host_tensor.h"
#include "vconv/conv.h"

namespace vconv::testing {

// A random valid problem exercising every conv_general semantic, with at most `max_macs` MACs.
Problem random_problem(std::mt19937_64& rng, int64_t max_macs = 200000);

// A random 3D problem over the video grid: KD 1..7, depth stride and dilation 1..2, depth padding
// (causal included) in every mode, N 1..3, groups, odd channels, flip, spatial input dilation;
// half of the draws have a 3x3 stride-1 spatial kernel.
Problem random_video_problem(std::mt19937_64& rng, int64_t max_macs = 400000);

struct SuiteCase {
  Problem problem;
  std::string comment;  // where the row comes from
};

// Reads a suite: one problem per line; '#' starts a comment (a comment after a problem is kept as
// its source note). `name` is a file path or the name of a file in bench/suites (seed, vae).
std::vector<SuiteCase> load_suite(const std::string& name);

// Scales a problem down for the CPU: spatial sizes and channels divided by the given factors,
// never below the kernel's extent or 3 channels, so that a suite runs in seconds on 2 cores.
struct CpuScale {
  int64_t time = 4, space = 4, channels = 8;
  std::string to_string() const;
};
Problem scale_problem(const Problem& p, const CpuScale& s);

// A problem of the same parameters cut down to at most `max_macs` MACs (smaller batch, spatial
// extent and output channels), for checking a case whose full reference is too slow.
Problem reduce_problem(const Problem& p, int64_t max_macs);

// What a result may differ from the exact one by, per output (docs/PERFORMANCE.md, "The error
// bound of vconv verify"):
//   |got - ref| <= 2 (output_u |ref| + output_tiny) + (product_u + terms * sum_u) * S,
// S the sum of |x| |w| over the output's terms (plus |initial output| when accumulating), terms
// their number. output_u rounds the result to its dtype (twice: the reference is rounded too);
// product_u is each product's operand rounding (TF32: 2 * 2^-11); sum_u is the fp32 sum's unit
// roundoff per term (2^-24, the worst case of any summation order), times the growth of an
// algorithm's transforms (Winograd).
// f16 results below its normal range round to a multiple of 2^-24 (output_tiny, absolute).
// Winograd mixes the rounding errors of an output tile (tile x tile outputs in H and W, from 0):
// each output's S is then the largest S of its tile and output channel.
struct ErrorModel {
  double output_u = 0, output_tiny = 0, product_u = 0, sum_u = 0;
  int64_t tile = 1;
};
ErrorModel error_model(const std::string& algorithm, DType dtype, Fp32Math fp32_math);

// S above for every output of `p` on these tensors (row-major), plus |t| of each tensor t of the
// output's shape added to the conv (the output accumulated into, a residual).
std::vector<double> magnitudes(const Problem& p, const HostTensor& x, const HostTensor& w,
                               const std::vector<const HostTensor*>& added = {});

// The per-output bounds of `model` for outputs `ref` with magnitudes `s`, the sums holding
// `added_terms` tensors beyond the conv's products.
std::vector<double> error_bounds(const Problem& p, const ErrorModel& model,
                                 const std::vector<double>& ref, const std::vector<double>& s,
                                 int added_terms = 0);

struct CheckOptions {
  bool strided = false;     // give every tensor padded strides (a view into a larger tensor)
  bool accumulate = false;  // run with Options::accumulate over a random initial output
  Device device = Device::cpu();
  Fp32Math fp32_math = Fp32Math::exact;
  // Options::epilogue: a random bias of shape [O] when `bias`, and the activation.
  bool bias = false;
  Activation activation = Activation::none;
  // Options::epilogue.residual: a random tensor of the output's shape (padded strides when
  // `strided`).
  bool residual = false;
};

// Runs `algorithm` on fresh random data (output poisoned with NaN first) on opts.device and
// compares it with conv_reference on the same data, norms and per-output bounds
// (error_model(algorithm, ...)) both.
ErrorStats check_algorithm(const Problem& p, const std::string& algorithm, std::mt19937_64& rng,
                           const CheckOptions& opts = {});

}  // namespace vconv::testing

// vconv bench: times algorithms over a suite of problems and checks each against the reference.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "commands.h"
#ifdef VCONV_ONEDNN
#include "onednn_compare.h"
#endif
#ifdef VCONV_CUDNN
#include "cudnn_compare.h"
#endif
#include "common/cases.h"
#include "common/device_copy.h"
#include "core/algorithm.h"
#include "core/validate.h"
#include "vconv/conv.h"
#include "vconv/device.h"
#include "vconv/error.h"

namespace vconv::cli {
namespace {

// Cases whose reference costs more MACs than this are checked on a reduced copy.
constexpr int64_t kFullCheckMacs = 300'000'000;
constexpr int64_t kReducedCheckMacs = 20'000'000;

struct BenchArgs {
  std::string suite = "seed", device = "auto", dtype, algo = "all", json, fp32_math = "exact";
  bool no_scale = false;
  bool host_overhead = false;
  std::string problem = "f32 in=1x2x2 c=8 o=8 k=1x1x1";  // --host-overhead's problem
};

// A case's random input and weight and its output, on the host and, on a GPU, in device copies
// that the views point at.
struct CaseTensors {
  testing::HostTensor x, w, y;
  std::unique_ptr<testing::DeviceCopy> dx, dw, dy;
  TensorView xv, wv, yv;
  CaseTensors(const Problem& p, Device dev, std::mt19937_64& rng)
      : x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()), y(p.dtype, p.output_shape()) {
    x.fill_uniform(rng);
    w.fill_uniform(rng);
    if (dev.type == DeviceType::cuda) {
      dx = std::make_unique<testing::DeviceCopy>(x, dev);
      dw = std::make_unique<testing::DeviceCopy>(w, dev);
      dy = std::make_unique<testing::DeviceCopy>(y, dev);
    }
    xv = dx ? dx->view() : x.view();
    wv = dw ? dw->view() : w.view();
    yv = dy ? dy->view() : y.view();
  }
};

struct Row {
  std::string problem, algorithm, note;
  double median_ms = 0, gflops = 0, rel_error = -1;  // rel_error < 0: not checked
};

std::vector<Row> bench_case(const Problem& p, const std::vector<std::string>& algos, Device dev,
                            Fp32Math fp32_math, std::mt19937_64& rng) {
  std::vector<Row> rows;
  CaseTensors t(p, dev, rng);
  testing::HostTensor &x = t.x, &w = t.w, &y = t.y;
  const std::unique_ptr<testing::DeviceCopy>& dy = t.dy;
  const TensorView &xv = t.xv, &wv = t.wv, &yv = t.yv;
  std::optional<testing::HostTensor> ref;
  const bool reference_runs = std::find(algos.begin(), algos.end(), "reference") != algos.end();
  const bool full_check = reference_runs || p.macs() <= kFullCheckMacs;
  const ConvParams params = p.params();
  for (const std::string& name : algos) {
    Row r{to_string(p), name, "", 0, 0, -1};
    Options o;
    o.algorithm = name;
    o.fp32_math = fp32_math;
    try {
      y.fill_nan();
      if (dy) dy->upload();
      r.median_ms = testing::median_ms(dev, [&] { conv(xv, wv, yv, params, o); });
      if (dy) dy->download();
      r.gflops = p.flops() / (r.median_ms * 1e6);
      if (name == "reference") {
        r.note = "is the reference";
        ref = y;
      } else if (full_check) {
        if (!ref) {
          ref = testing::HostTensor(p.dtype, p.output_shape());
          conv_reference(x.view(), w.view(), ref->view(), params);
        }
        r.rel_error = testing::compare(y, *ref).rel_l2;
      } else {
        const Problem small = testing::reduce_problem(p, kReducedCheckMacs);
        testing::CheckOptions co;
        co.device = dev;
        co.fp32_math = fp32_math;
        r.rel_error = testing::check_algorithm(small, name, rng, co).rel_l2;
        r.note = "checked on " + to_string(small);
      }
    } catch (const std::exception& e) {
      r.note = std::string("error: ") + e.what();
    }
    rows.push_back(r);
  }
#ifdef VCONV_CUDNN
  // cuDNN on the same device memory, checked against the same reference where there is one.
  if (dev.type == DeviceType::cuda && cudnn_why_not(p).empty()) {
    Row r{to_string(p), "cudnn", "comparison (cuDNN)", 0, 0, -1};
    try {
      y.fill_nan();
      dy->upload();
      bool exact = false;
      r.median_ms = cudnn_conv_ms(p, xv, wv, yv, fp32_math, &exact);
      r.gflops = p.flops() / (r.median_ms * 1e6);
      if (!exact) r.note += ", causal padding run symmetric (extra frames computed)";
      dy->download();
      if (exact && ref) r.rel_error = testing::compare(y, *ref).rel_l2;
    } catch (const std::exception& e) {
      r.note = std::string("error: ") + e.what();
    }
    rows.push_back(r);
  }
#endif
#ifdef VCONV_ONEDNN
  // oneDNN on the same data, checked against the same reference.
  if (dev.type == DeviceType::cpu && onednn_why_not(p).empty()) {
    Row r{to_string(p),
          "onednn",
          "comparison (oneDNN), weights reordered outside the timing",
          0,
          0,
          -1};
    y.fill_nan();
    r.median_ms = onednn_conv_ms(p, x, w, y);
    r.gflops = p.flops() / (r.median_ms * 1e6);
    if (ref) r.rel_error = testing::compare(y, *ref).rel_l2;
    rows.push_back(r);
  }
#endif
  return rows;
}

struct PlanSummary {
  int cases = 0, within_10pct = 0;
};

// Prints how the planner's choice compares with the fastest algorithm measured on this case.
void report_plan(const Problem& p, Device dev, const Options& options, const std::vector<Row>& rows,
                 PlanSummary& summary) {
  const std::string chosen = plan_conv(p, dev, options).algorithm;
  const Row* fastest = nullptr;
  const Row* planned = nullptr;
  const Row* cudnn = nullptr;
  for (const Row& r : rows) {
    if (r.algorithm == "cudnn" && r.note.rfind("error", 0) != 0) cudnn = &r;
    if (r.note.rfind("error", 0) == 0 || r.algorithm == "onednn" || r.algorithm == "cudnn")
      continue;
    if (!fastest || r.median_ms < fastest->median_ms) fastest = &r;
    if (r.algorithm == chosen) planned = &r;
  }
  if (!fastest || !planned) return;
  const double ratio = planned->median_ms / fastest->median_ms;
  ++summary.cases;
  summary.within_10pct += ratio <= 1.10;
  std::printf("  plan: %s, %.2fx the time of the fastest (%s)", chosen.c_str(), ratio,
              fastest->algorithm.c_str());
  if (cudnn) std::printf("; %.2fx cuDNN's speed", cudnn->median_ms / planned->median_ms);
  std::printf("\n");
}

// Prints the planner's choice at oneDNN's speed (its time over the choice's, same run), when
// both ran on this case.
void report_onednn(const Problem& p, Device dev, const Options& options,
                   const std::vector<Row>& rows) {
  const std::string chosen = plan_conv(p, dev, options).algorithm;
  const Row* planned = nullptr;
  const Row* onednn = nullptr;
  for (const Row& r : rows) {
    if (r.note.rfind("error", 0) == 0) continue;
    if (r.algorithm == "onednn") onednn = &r;
    if (r.algorithm == chosen) planned = &r;
  }
  if (planned && onednn)
    std::printf("  plan: %s at %.2fx oneDNN's speed (%.3f ms against %.3f ms)\n", chosen.c_str(),
                onednn->median_ms / planned->median_ms, planned->median_ms, onednn->median_ms);
}

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t end = std::min(list.find(',', begin), list.size());
    if (end > begin) items.push_back(list.substr(begin, end - begin));
    begin = end + 1;
  }
  if (items.empty()) throw Error("--algo: empty list, expected names separated by commas");
  return items;
}

void bench(const BenchArgs& a) {
  if (a.device != "cpu" && a.device != "cuda" && a.device != "auto")
    throw Error("--device: '" + a.device + "', expected cpu, cuda or auto");
  auto cases = testing::load_suite(a.suite);
  const Fp32Math math = parse_fp32_math(a.fp32_math, "--fp32-math");
  Options plan_options;
  plan_options.fp32_math = math;
  Device dev = a.device == "cuda" ? Device::cuda(0) : Device::cpu();
  if (a.device == "auto" && cuda_device_count() > 0) {
    // The GPU when one is present and some registered algorithm runs there.
    bool runs = true;
    try {
      plan_conv(cases.at(0).problem, Device::cuda(0));
    } catch (const Error&) {
      runs = false;
    }
    if (runs)
      dev = Device::cuda(0);
    else
      std::cout
          << "a GPU is present but no CUDA algorithm is registered in this build; using the CPU\n";
  }
  const testing::CpuScale scale;
  const bool scaled = dev.type == DeviceType::cpu && !a.no_scale;
  std::cout << "suite " << a.suite << " on " << device_name(dev);
  if (scaled) std::cout << ", cases scaled down: " << scale.to_string();
  std::cout << "\n";
  std::printf("%-62s %-12s %10s %10s %10s  %s\n", "case", "algorithm", "median_ms", "GFLOP/s",
              "rel_error", "note");
  std::mt19937_64 rng(2026);
  nlohmann::json records = nlohmann::json::array();
  PlanSummary plan_summary;
  for (auto& c : cases) {
    Problem p = c.problem;
    if (!a.dtype.empty()) p.dtype = parse_dtype(a.dtype, "--dtype");
    if (scaled) p = testing::scale_problem(p, scale);
    std::vector<std::string> algos;
    if (a.algo == "all") {
      // The reference first, so that its output checks the others on the full case.
      for (const Candidate& cand : plan_conv(p, dev, plan_options).candidates)
        if (cand.valid)
          algos.insert(cand.name == "reference" ? algos.begin() : algos.end(), cand.name);
    } else if (a.algo == "plan") {
      algos = {plan_conv(p, dev, plan_options).algorithm};
    } else {
      algos = split_list(a.algo);
    }
    const std::vector<Row> rows = bench_case(p, algos, dev, math, rng);
    if (algos.size() > 1) report_plan(p, dev, plan_options, rows, plan_summary);
    report_onednn(p, dev, plan_options, rows);
    for (const Row& r : rows) {
      char err[32] = "-";
      if (r.rel_error >= 0) std::snprintf(err, sizeof err, "%.2e", r.rel_error);
      std::printf("%-62s %-12s %10.3f %10.1f %10s  %s\n", r.problem.c_str(), r.algorithm.c_str(),
                  r.median_ms, r.gflops, err, r.note.c_str());
      std::fflush(stdout);
      records.push_back({{"case", r.problem},
                         {"algorithm", r.algorithm},
                         {"device", device_name(dev)},
                         {"dtype", dtype_name(p.dtype)},
                         {"median_ms", r.median_ms},
                         {"gflops", r.gflops},
                         {"rel_error", r.rel_error >= 0 ? nlohmann::json(r.rel_error) : nullptr},
                         {"fp32_math", a.fp32_math},
                         {"note", r.note},
                         {"source", c.comment}});
    }
  }
  if (plan_summary.cases > 0)
    std::printf("planner: its choice is the fastest or within 10%% of it on %d of %d cases\n",
                plan_summary.within_10pct, plan_summary.cases);
  if (!a.json.empty()) {
    std::ofstream f(a.json);
    if (!f) throw Error("--json: cannot write '" + a.json + "'");
    f << records.dump(2) << "\n";
  }
}

// Microseconds per call of `f`: the median over batches of the batch's time divided by its calls.
// The device is synchronised between batches, outside the timing, so that on a GPU the time is
// what the host spends enqueueing, not the GPU's execution.
double host_us_per_call(Device dev, const std::function<void()>& f) {
  constexpr int kBatches = 31, kCalls = 200;
  using clock = std::chrono::steady_clock;
  std::vector<double> us;
  for (int b = 0; b < kBatches; ++b) {
    const auto t0 = clock::now();
    for (int i = 0; i < kCalls; ++i) f();
    us.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count() / kCalls);
    if (dev.type == DeviceType::cuda) testing::device_synchronize(dev);
  }
  std::nth_element(us.begin(), us.begin() + kBatches / 2, us.end());
  return us[kBatches / 2];
}

// What a call costs the host beyond the algorithm's own work, on a problem whose compute is
// negligible: conv() (validation, planning or the cached plan, the run) against the planned
// algorithm's run() alone on the same views.
void host_overhead(const BenchArgs& a) {
  const Device dev = a.device == "cuda" ? Device::cuda(0) : Device::cpu();
  Problem p = parse_problem(a.problem);
  if (!a.dtype.empty()) p.dtype = parse_dtype(a.dtype, "--dtype");
  std::mt19937_64 rng(2026);
  const CaseTensors t(p, dev, rng);
  const TensorView &xv = t.xv, &wv = t.wv, &yv = t.yv;
  const ConvParams params = p.params();
  Options o;
  if (a.algo != "all") o.algorithm = a.algo;
  const std::string chosen = plan_conv(p, dev, o).algorithm;

  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  conv(xv, wv, yv, params, o);
  const double first_us = std::chrono::duration<double, std::micro>(clock::now() - t0).count();
  const double conv_us = host_us_per_call(dev, [&] { conv(xv, wv, yv, params, o); });
  const CheckedArgs checked = check_conv_args(xv, wv, yv, params, o);
  const ConvArgs args{checked.problem, checked.input, checked.weight, checked.output, dev, o,
                      p.dtype};
  const Algorithm& algorithm = *find_algorithm(chosen);
  const double run_us = host_us_per_call(dev, [&] { algorithm.run(args); });
  std::printf("host cost per call of '%s' on %s (%s)\n", to_string(p).c_str(),
              device_name(dev).c_str(), chosen.c_str());
  std::printf("  first conv() call:       %8.2f us\n", first_us);
  std::printf("  conv(), once planned:    %8.2f us per call\n", conv_us);
  std::printf("  %s run() alone: %8.2f us per call\n", chosen.c_str(), run_us);
  std::printf("  host cost beyond run():  %8.2f us per call\n", conv_us - run_us);
}

}  // namespace

void add_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "time algorithms over a suite of problems");
  cmd->add_option("--suite", args->suite,
                  "seed, output_conv, vae, decode_chunks, block_convs or a suite file");
  cmd->add_option("--device", args->device, "cpu|cuda (default: the GPU when present)");
  cmd->add_option("--dtype", args->dtype, "f32|f16|bf16 (default: each case's own)");
  cmd->add_option("--algo", args->algo,
                  "all (every valid one), plan (the planner's choice), or algorithm names "
                  "separated by commas");
  cmd->add_option("--json", args->json, "write one record per (case, algorithm) to FILE");
  cmd->add_option("--fp32-math", args->fp32_math,
                  "exact|tf32: the fp32 error accepted (TF32 on GPUs, Winograd F(4x4) on the CPU)");
  cmd->add_flag("--no-scale", args->no_scale, "run the cases at full size on the CPU too");
  cmd->add_flag("--host-overhead", args->host_overhead,
                "time the host's cost per conv() call on --problem instead of a suite");
  cmd->add_option("--problem", args->problem,
                  "the problem --host-overhead times (default: a 1x1x1 conv, 8 channels, 1x2x2)");
  cmd->callback([args] { args->host_overhead ? host_overhead(*args) : bench(*args); });
}

}  // namespace vconv::cli

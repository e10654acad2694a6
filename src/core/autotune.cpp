#include "core/autotune.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "core/device_runtime.h"
#include "core/plan_cache.h"
#include "vconv/error.h"

namespace vconv {
namespace {

constexpr const char* kHeader = "vconv-autotune v1";

struct Cache {
  std::mutex mutex;
  std::map<std::string, std::string> winners;  // "problem @ device" -> algorithm
  bool file_loaded = false;
};

Cache& cache() {
  static Cache c;
  return c;
}

void warn(const std::string& path, const std::string& why) {
  std::cerr << "vconv: warning: ignoring autotune cache '" << path << "': " << why << "\n";
}

// Loads VCONV_CACHE once; entries that do not check out are skipped with a warning.
void load_file(Cache& c) {
  c.file_loaded = true;
  const char* path = std::getenv("VCONV_CACHE");
  if (!path || !*path) return;
  std::ifstream f(path);
  if (!f) return;  // not written yet
  std::string line;
  if (!std::getline(f, line) || line != kHeader) {
    warn(path,
         "first line is not '" + std::string(kHeader) + "' (corrupt or from another version)");
    return;
  }
  int number = 1;
  while (std::getline(f, line)) {
    ++number;
    std::istringstream fields(line);
    std::string key, device, algo;
    if (!std::getline(fields, key, '\t') || !std::getline(fields, device, '\t') ||
        !std::getline(fields, algo) || algo.empty()) {
      warn(path, "line " + std::to_string(number) + " is malformed");
      continue;
    }
    try {
      parse_problem(key);
    } catch (const Error&) {
      warn(path, "line " + std::to_string(number) + " holds no valid problem");
      continue;
    }
    if (!find_algorithm(algo)) {
      warn(path, "line " + std::to_string(number) + " names unknown algorithm '" + algo + "'");
      continue;
    }
    c.winners[key + " @ " + device] = algo;
  }
}

void append_file(const std::string& problem, const std::string& device, const std::string& algo) {
  const char* path = std::getenv("VCONV_CACHE");
  if (!path || !*path) return;
  const bool fresh = !std::ifstream(path).good();
  std::ofstream f(path, std::ios::app);
  if (!f) {
    std::cerr << "vconv: warning: cannot write autotune cache '" << path << "'\n";
    return;
  }
  if (fresh) f << kHeader << "\n";
  f << problem << "\t" << device << "\t" << algo << "\n";
}

// Whether `a` can run these arguments: the problem and the tensors (as conv() asks).
bool usable(const Algorithm& a, const ConvArgs& args) {
  return why_not_with_options(a, args.problem, args.device, args.options).empty() &&
         a.why_not_args(args).empty();
}

// On the CPU the host clock (the faster of two runs, the first warming caches); on a GPU CUDA
// events on the caller's stream.
double time_ms(const Algorithm& algo, const ConvArgs& args) {
  if (args.device.type == DeviceType::cuda)
    return cuda_time_ms(args.device, args.options.stream, [&] { algo.run(args); });
  using clock = std::chrono::steady_clock;
  double best = 0;
  for (int i = 0; i < 2; ++i) {
    const auto t0 = clock::now();
    algo.run(args);
    const double ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    best = i == 0 ? ms : std::min(best, ms);
  }
  return best;
}

// The device as cache entries name it: "cpu", or a GPU's ordinal and model, so that a cache file
// moved to another GPU is measured again.
std::string device_key(Device device) {
  if (device.type == DeviceType::cpu) return device_name(device);
  return device_name(device) + " (" + cuda_device_model(device) + ")";
}

}  // namespace

void clear_autotune_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.winners.clear();
  c.file_loaded = false;
  clear_plan_cache();  // conv()'s plans hold autotuned winners too
}

const Algorithm& autotuned_algorithm(const ConvArgs& args) {
  const Problem& p = args.problem;
  const std::string key = to_string(p), device = device_key(args.device);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (!c.file_loaded) load_file(c);
    auto it = c.winners.find(key + " @ " + device);
    if (it != c.winners.end()) {
      const Algorithm* a = find_algorithm(it->second);
      if (a && usable(*a, args)) return *a;
    }
  }
  // Measure on the caller's input and weight, writing a contiguous scratch output on the device.
  const size_t bytes =
      static_cast<size_t>(p.n * p.out[0] * p.out[1] * p.out[2] * p.o * dtype_size(p.dtype));
  std::vector<char> host_scratch;
  std::shared_ptr<void> device_scratch;
  void* scratch = nullptr;
  if (args.device.type == DeviceType::cpu) {
    host_scratch.resize(bytes);
    scratch = host_scratch.data();
  } else {
    device_scratch = cuda_scratch(args.device, bytes);
    scratch = device_scratch.get();
  }
  Options quiet = args.options;
  quiet.accumulate = false;
  const ConvArgs trial{p,           args.input, args.weight, contiguous_output(p, scratch),
                       args.device, quiet,      p.dtype};
  std::vector<const Algorithm*> valid;
  for (const Algorithm* a : algorithms())
    if (usable(*a, args)) valid.push_back(a);
  const Algorithm* best = nullptr;
  double best_ms = 0;
  for (const Algorithm* a : valid) {
    // The reference is timed only when nothing else can run the problem.
    if (std::string(a->name()) == "reference" && valid.size() > 1) continue;
    const double ms = time_ms(*a, trial);
    if (!best || ms < best_ms) {
      best = a;
      best_ms = ms;
    }
  }
  if (!best) throw Error("no algorithm can run '" + key + "' on " + device);
  std::lock_guard<std::mutex> lock(c.mutex);
  c.winners[key + " @ " + device] = best->name();
  append_file(key, device, best->name());
  return *best;
}

}  // namespace vconv

#include "core/autotune.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
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

// v2 keys each entry on the options that change which algorithms are valid or how fast they run
// (options_key()); v1 entries, measured under any fp32_math, are ignored with a warning.
constexpr const char* kHeader = "vconv-autotune v2";

// One line per entry: problem, device, algorithm, options, separated by tabs (the options last so
// that v1's leading fields keep their places).
using Entries = std::map<std::string, std::string>;  // "problem\tdevice\toptions" -> algorithm

struct Cache {
  std::mutex mutex;
  Entries winners;
  bool file_loaded = false;
};

Cache& cache() {
  static Cache c;
  return c;
}

const char* cache_path() {
  const char* path = std::getenv("VCONV_CACHE");
  return path && *path ? path : nullptr;
}

void warn(const std::string& path, const std::string& why) {
  std::cerr << "vconv: warning: ignoring autotune cache '" << path << "': " << why << "\n";
}

// The options a winner depends on: fp32_math admits winograd_f4x3 and changes the GPU kernels'
// cost, the epilogue's form rules out algorithms that do not apply it, the workspace bound rules
// out depth_tap's accumulator and sizes the GEMMs' chunks, a frame cache, a residual and a
// prologue rule out algorithms that do not apply them (each named only when present, so that the
// entries written before it still match).
std::string options_key(const Options& o) {
  std::string epilogue = o.epilogue.bias.data ? "bias" : "";
  if (o.epilogue.activation == Activation::silu) epilogue += epilogue.empty() ? "silu" : "+silu";
  if (o.epilogue.residual.data) epilogue += epilogue.empty() ? "residual" : "+residual";
  std::string prologue;
  if (!o.prologue.empty()) {
    const Norm norm = o.prologue.norm;
    prologue = std::string(" prologue=") +
               (norm == Norm::group_norm    ? "group_norm"
                : norm == Norm::rms_norm    ? "rms_norm"
                : norm == Norm::scale_shift ? "scale_shift"
                                            : "none") +
               (o.prologue.activation == Activation::silu ? "+silu" : "");
  }
  return std::string("fp32_math=") + (o.fp32_math == Fp32Math::tf32 ? "tf32" : "exact") +
         " epilogue=" + (epilogue.empty() ? "none" : epilogue) +
         " workspace=" + std::to_string(o.workspace_bytes) +
         (o.frame_cache.empty() ? "" : " frame_cache") + prologue;
}

// The entries of the cache file at `path`; lines that do not check out are skipped, with a
// warning when `warnings` is set. A missing file has none.
Entries read_file(const char* path, bool warnings) {
  Entries entries;
  std::ifstream f(path);
  if (!f) return entries;  // not written yet
  std::string line;
  if (!std::getline(f, line) || line != kHeader) {
    if (warnings)
      warn(path,
           "first line is not '" + std::string(kHeader) + "' (corrupt or from another version)");
    return entries;
  }
  int number = 1;
  while (std::getline(f, line)) {
    ++number;
    std::istringstream fields(line);
    std::string problem, device, algo, options;
    std::string why;
    if (!std::getline(fields, problem, '\t') || !std::getline(fields, device, '\t') ||
        !std::getline(fields, algo, '\t') || !std::getline(fields, options) || options.empty()) {
      why = "is malformed";
    } else if (!find_algorithm(algo)) {
      why = "names unknown algorithm '" + algo + "'";
    } else {
      try {
        parse_problem(problem);
      } catch (const Error&) {
        why = "holds no valid problem";
      }
    }
    if (why.empty())
      entries[problem + "\t" + device + "\t" + options] = algo;
    else if (warnings)
      warn(path, "line " + std::to_string(number) + " " + why);
  }
  return entries;
}

// Adds an entry to the cache file so that neither another thread nor another process ever sees
// a torn or interleaved file: under an exclusive lock on "<path>.lock" (processes; the caller
// holds Cache::mutex for threads), the file is read again, the entry merged in, and the whole
// written to a temporary file in the same directory that is renamed over it (atomic on POSIX).
void write_file(const std::string& key, const std::string& algo) {
  const char* path = cache_path();
  if (!path) return;
  auto cannot = [&](const std::string& what) {
    std::cerr << "vconv: warning: cannot write autotune cache '" << path << "': " << what << ": "
              << std::strerror(errno) << "\n";
  };
  const std::string lock_path = std::string(path) + ".lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) return cannot("open " + lock_path);
  if (::flock(lock, LOCK_EX) != 0) {
    cannot("lock " + lock_path);
    ::close(lock);
    return;
  }
  Entries entries = read_file(path, false);  // the warnings came when it was loaded
  entries[key] = algo;
  std::string text = std::string(kHeader) + "\n";
  for (const auto& [k, a] : entries) {
    const size_t options = k.rfind('\t');
    text += k.substr(0, options) + "\t" + a + k.substr(options) + "\n";
  }
  std::string temp = std::string(path) + ".XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    cannot("create a temporary file beside it");
  } else {
    bool written = true;
    for (size_t done = 0; written && done < text.size();) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      written = n > 0;
      if (written) done += static_cast<size_t>(n);
    }
    // mkstemp creates it 0600; the cache is as readable as a file written by ofstream.
    written = written && ::fchmod(fd, 0644) == 0;
    written = ::close(fd) == 0 && written;
    if (!written || ::rename(temp.c_str(), path) != 0) {
      cannot(written ? "rename " + temp : "write " + temp);
      ::unlink(temp.c_str());
    }
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
}

// Whether `a` can run these arguments: the problem under the options, and the tensors (as conv()
// asks).
bool usable(const Algorithm& a, const ConvArgs& args) {
  return why_not_planned(a, args.problem, args.device, args.options).empty() &&
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
  const std::string device = device_key(args.device);
  const std::string key = to_string(p) + "\t" + device + "\t" + options_key(args.options);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (!c.file_loaded) {
      // Loaded once; entries that do not check out are skipped with a warning.
      if (const char* path = cache_path()) c.winners = read_file(path, true);
      c.file_loaded = true;
    }
    auto it = c.winners.find(key);
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
  if (!best) throw Error("no algorithm can run '" + to_string(p) + "' on " + device);
  std::lock_guard<std::mutex> lock(c.mutex);
  c.winners[key] = best->name();
  write_file(key, best->name());
  return *best;
}

}  // namespace vconv

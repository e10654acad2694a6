#pragma once
// A fresh autotune cache file for one test: while it lives, VCONV_CACHE names it (removed first)
// and the in-memory cache starts empty; at the end both are undone, also when an assertion
// returns from the test early, so that no later test reads this one's winners.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/autotune.h"

namespace vconv::testing {

class ScopedAutotuneFile {
 public:
  explicit ScopedAutotuneFile(std::string path) : path_(std::move(path)) {
    std::remove(path_.c_str());
    setenv("VCONV_CACHE", path_.c_str(), 1);
    clear_autotune_cache();
  }
  ~ScopedAutotuneFile() {
    unsetenv("VCONV_CACHE");
    clear_autotune_cache();
  }
  ScopedAutotuneFile(const ScopedAutotuneFile&) = delete;
  ScopedAutotuneFile& operator=(const ScopedAutotuneFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace vconv::testing

#pragma once
// "[a, b, c]" for error messages.
#include <cstdint>
#include <string>
#include <vector>

namespace vconv {

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace vconv

#pragma once
// vconv::Error: every bad argument is reported with one of these. The message names the argument,
// the value received and what was expected.
#include <stdexcept>
#include <string>

namespace vconv {

class Error : public std::invalid_argument {
 public:
  explicit Error(const std::string& what) : std::invalid_argument(what) {}
};

}  // namespace vconv

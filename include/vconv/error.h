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

// A failure of the device or its libraries (an out-of-memory, a failed launch): not the caller's
// argument, so not a vconv::Error. The message names the call and the error.
class DeviceError : public std::runtime_error {
 public:
  explicit DeviceError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace vconv

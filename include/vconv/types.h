#pragma once
#include <cstdint>
#include <string>

namespace vconv {

enum class DType { f32, f16, bf16 };

enum class DeviceType { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;  // CUDA ordinal; 0 for the CPU

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

int64_t dtype_size(DType t);
const char* dtype_name(DType t);
// Parses "f32", "f16" or "bf16"; throws vconv::Error naming `argument` otherwise.
DType parse_dtype(const std::string& s, const char* argument = "dtype");
std::string device_name(Device d);

}  // namespace vconv

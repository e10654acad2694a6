#pragma once
// Owning host tensors with random fills and error measurement, shared by the CLI and the tests.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "vconv/tensor_view.h"

namespace vconv::testing {

class HostTensor {
 public:
  HostTensor() = default;
  // A tensor of `shape`; `pad` (one entry per dim, or empty) adds unused elements after each
  // dimension's extent so that the view is strided like a slice of a larger tensor.
  HostTensor(DType dtype, std::vector<int64_t> shape, std::vector<int64_t> pad = {});

  TensorView view();
  // The whole storage, padding included (for copies to and from a device).
  void* storage() { return bytes_.data(); }
  size_t storage_bytes() const { return bytes_.size(); }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int64_t numel() const;

  double get(int64_t linear) const;  // element by row-major logical index
  void set(int64_t linear, double v);
  void fill_uniform(std::mt19937_64& rng, double lo = -1.0, double hi = 1.0);
  void fill_normal(std::mt19937_64& rng);  // unit normal, as MLX's and PyTorch's tests draw
  void fill_nan();  // poison, so that an unwritten output cannot pass a check
  void copy_from(const HostTensor& other);  // same logical shape, any strides

 private:
  int64_t offset(int64_t linear) const;
  DType dtype_ = DType::f32;
  std::vector<int64_t> shape_, strides_;
  std::vector<uint8_t> bytes_;
};

struct ErrorStats {
  double rel_l2 = 0;      // ||got - ref|| / ||ref||
  double max_rel = 0;     // max |got - ref| / max |ref|
  int64_t nonfinite = 0;  // elements of got that are NaN or inf where ref is finite
  // Against a per-output bound (compare_within_bound): the largest |got - ref| / bound, and the
  // output where it is (row-major index; -1 when no bound was given).
  double bound_ratio = 0;
  int64_t worst = -1;
  double worst_got = 0, worst_ref = 0, worst_bound = 0;
  bool within(double tol) const { return nonfinite == 0 && rel_l2 <= tol && max_rel <= tol; }
  bool within_bound() const { return nonfinite == 0 && bound_ratio <= 1; }
  std::string to_string() const;
};

// Element by element over the logical row-major order.
ErrorStats compare(const HostTensor& got, const std::vector<double>& ref);
ErrorStats compare(const HostTensor& got, const HostTensor& ref);

// compare(), plus each output's error against its own bound (one per output, same order).
ErrorStats compare_within_bound(const HostTensor& got, const std::vector<double>& ref,
                                const std::vector<double>& bound);

// The tolerance relative to the reference's norm for results computed in `dtype` (fp32 inputs
// multiplied in TF32 when tf32).
double tolerance(DType dtype, bool tf32 = false);

}  // namespace vconv::testing

// A program outside the vconv tree, built against an installed copy.
#include <iostream>
#include <vector>

#include <vconv/vconv.h>

int main() {
  std::vector<float> x(1 * 5 * 6 * 6 * 4, 0.5f), w(2 * 3 * 3 * 3 * 4, 0.25f), y(1 * 3 * 4 * 4 * 2);
  vconv::TensorView xv(x.data(), vconv::DType::f32, {1, 5, 6, 6, 4});
  vconv::TensorView wv(w.data(), vconv::DType::f32, {2, 3, 3, 3, 4});
  const auto shape = vconv::conv_output_shape(xv.shape, wv.shape, {});
  vconv::TensorView yv(y.data(), vconv::DType::f32, shape);
  vconv::conv(xv, wv, yv, {});
  std::cout << "output shape [";
  for (size_t i = 0; i < shape.size(); ++i) std::cout << (i ? ", " : "") << shape[i];
  std::cout << "], y[0] = " << y[0] << "\n";
  return y[0] == 0.5f * 0.25f * 108 ? 0 : 1;
}

#pragma once
// Winograd F(MxM, 3x3) transform matrices (Lavin and Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2015): Y = A^T [(G g G^T) . (B^T d B)] A over alpha x alpha tiles,
// alpha = M + 2. F(2x2) uses the points 0, 1, -1, inf; F(4x4) uses 0, 1, -1, 2, -2, inf, whose
// fp32 error stays near 1e-6 relative (measured in docs/PERFORMANCE.md). F(6x6) needs points up
// to +-4 or +-1/2 and was not taken: its error exceeds the 1e-5 budget for fp32 outputs.
namespace vconv::cpu {

template <int M>
struct WinogradF3;

template <>
struct WinogradF3<2> {
  static constexpr int kAlpha = 4;
  static constexpr float BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr float G[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
  static constexpr float AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};

template <>
struct WinogradF3<4> {
  static constexpr int kAlpha = 6;
  static constexpr float BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0},
                                     {0, 4, -4, -1, 1, 0}, {0, -2, -1, 2, 1, 0},
                                     {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr float G[6][3] = {{1.0f / 4, 0, 0},
                                    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                    {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                    {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                    {0, 0, 1}};
  static constexpr float AT[4][6] = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

}  // namespace vconv::cpu

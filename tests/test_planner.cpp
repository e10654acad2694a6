// The planner: candidates, reasons, forcing, and the output-shape helpers it relies on.
#include <gtest/gtest.h>

#include "vconv/vconv.h"

TEST(Planner, ListsEveryAlgorithmWithValidity) {
  const auto p = vconv::parse_problem("f32 n=1 in=5x8x8 c=4 o=4 k=3x3x3 p=2:0x1x1");
  const auto plan = vconv::plan_conv(p, vconv::Device::cpu());
  EXPECT_EQ(plan.candidates.size(), vconv::algorithm_names().size());
  EXPECT_FALSE(plan.algorithm.empty());
  EXPECT_FALSE(plan.reason.empty());
  bool chosen_is_valid = false;
  for (const auto& c : plan.candidates) {
    if (c.valid) {
      EXPECT_TRUE(c.why_not.empty());
      EXPECT_GT(c.estimate_ms, 0);
    } else {
      EXPECT_FALSE(c.why_not.empty()) << c.name;
    }
    chosen_is_valid |= c.valid && c.name == plan.algorithm;
  }
  EXPECT_TRUE(chosen_is_valid);
  EXPECT_NE(plan.to_string().find("reason: "), std::string::npos);
}

TEST(Planner, NoValidAlgorithmSaysWhy) {
  if (vconv::cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  const auto p = vconv::parse_problem("f32 in=5x8x8 c=4 o=4 k=3x3x3");
  try {
    vconv::plan_conv(p, vconv::Device::cuda(0));
    // With CUDA algorithms registered a CUDA plan may exist; then it must name one.
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("reference: runs on the CPU only"), std::string::npos)
        << e.what();
  }
}

TEST(Planner, ForcedAlgorithmIsReported) {
  const auto p = vconv::parse_problem("bf16 in=9 c=2 o=2 k=3");
  vconv::Options o;
  o.algorithm = "reference";
  const auto plan = vconv::plan_conv(p, vconv::Device::cpu(), o);
  EXPECT_EQ(plan.algorithm, "reference");
  EXPECT_EQ(plan.reason, "forced by options.algorithm");
}

TEST(OutputShape, MlxFormula) {
  vconv::ConvParams p;
  p.stride = {2};
  p.padding_lo = {3};
  p.padding_hi = {1};
  p.kernel_dilation = {2};
  p.input_dilation = {3};
  // dilated input (10-1)*3+1 = 28, padded 32, dilated kernel 5: (32-5)/2+1 = 14.
  EXPECT_EQ(vconv::conv_output_shape({2, 10, 6}, {4, 3, 6}, p), (std::vector<int64_t>{2, 14, 4}));
}

TEST(OutputShape, TransposeParamsMatchMlx) {
  const auto p =
      vconv::conv_transpose_params({3, 4, 4}, {1, 2, 2}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, 2);
  EXPECT_TRUE(p.flip);
  EXPECT_EQ(p.groups, 2);
  EXPECT_EQ(p.input_dilation, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(p.padding_lo, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(p.padding_hi, (std::vector<int64_t>{1, 3, 3}));
  // PyTorch: (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
  EXPECT_EQ(vconv::conv_output_shape({1, 5, 8, 8, 4}, {6, 3, 4, 4, 2}, p),
            (std::vector<int64_t>{1, 5, 17, 17, 6}));
}

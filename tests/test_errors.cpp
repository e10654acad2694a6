// Every class of bad input gets a vconv::Error whose message names the argument and what was
// expected.
#include <gtest/gtest.h>

#include "common/host_tensor.h"
#include "vconv/vconv.h"

using vconv::ConvParams;
using vconv::DType;
using vconv::TensorView;

namespace {

// Expects conv() to throw a vconv::Error whose message contains every fragment.
void expect_error(const TensorView& x, const TensorView& w, const TensorView& y,
                  const ConvParams& p, std::vector<std::string> fragments,
                  const vconv::Options& o = {}) {
  try {
    vconv::conv(x, w, y, p, o);
    FAIL() << "no error; expected one containing '" << fragments[0] << "'";
  } catch (const vconv::Error& e) {
    for (const auto& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
          << "message '" << e.what() << "' lacks '" << f << "'";
  }
}

struct Tensors {
  vconv::testing::HostTensor x{DType::f32, {1, 4, 6, 6, 8}};
  vconv::testing::HostTensor w{DType::f32, {16, 3, 3, 3, 8}};
  vconv::testing::HostTensor y{DType::f32, {1, 2, 4, 4, 16}};
};

}  // namespace

TEST(Errors, IsInvalidArgument) {
  static_assert(std::is_base_of_v<std::invalid_argument, vconv::Error>);
  Tensors t;
  EXPECT_THROW(vconv::conv(t.x.view(), t.w.view(), t.x.view(), {}), std::invalid_argument);
}

TEST(Errors, RankMismatch) {
  Tensors t;
  vconv::testing::HostTensor w2(DType::f32, {16, 3, 3, 8});
  expect_error(t.x.view(), w2.view(), t.y.view(), {}, {"weight", "rank 5", "[16, 3, 3, 8]"});
  vconv::testing::HostTensor x6(DType::f32, {1, 1, 4, 6, 6, 8});
  expect_error(x6.view(), t.w.view(), t.y.view(), {}, {"input", "rank 3, 4 or 5"});
}

TEST(Errors, ChannelMismatch) {
  Tensors t;
  vconv::testing::HostTensor w(DType::f32, {16, 3, 3, 3, 5});
  expect_error(t.x.view(), w.view(), t.y.view(), {}, {"channel mismatch", "C = 8", "groups = 1"});
}

TEST(Errors, OutputChannelsNotDivisibleByGroups) {
  Tensors t;
  vconv::testing::HostTensor w(DType::f32, {15, 3, 3, 3, 4});
  ConvParams p;
  p.groups = 2;
  expect_error(t.x.view(), w.view(), t.y.view(), p, {"O = 15", "not divisible", "groups = 2"});
}

TEST(Errors, NonPositiveStrideOrDilation) {
  Tensors t;
  ConvParams p;
  p.stride = {1, 0, 1};
  expect_error(t.x.view(), t.w.view(), t.y.view(), p, {"params.stride[1]", "got 0", ">= 1"});
  p = {};
  p.kernel_dilation = {-1};
  expect_error(t.x.view(), t.w.view(), t.y.view(), p, {"params.kernel_dilation[0]", "got -1"});
  p = {};
  p.input_dilation = {1, 1, 0};
  expect_error(t.x.view(), t.w.view(), t.y.view(), p, {"params.input_dilation[2]", "got 0"});
  p = {};
  p.groups = 0;
  expect_error(t.x.view(), t.w.view(), t.y.view(), p, {"params.groups", "got 0"});
}

TEST(Errors, PaddingLeavesNoOutput) {
  Tensors t;
  ConvParams p;
  p.padding_lo = {-1, 0, 0};
  p.padding_hi = {-1, 0, 0};
  expect_error(t.x.view(), t.w.view(), t.y.view(), p,
               {"params.padding[0]", "output size would be <= 0"});
}

TEST(Errors, ReflectWiderThanInput) {
  Tensors t;
  ConvParams p;
  p.padding_lo = {4, 1, 1};
  p.padding_hi = {0, 1, 1};
  p.pad_mode = {vconv::PadMode::reflect};
  expect_error(t.x.view(), t.w.view(), t.y.view(), p,
               {"params.pad_mode[0]", "reflect padding 4:0", "input size 4"});
}

TEST(Errors, WrongParamCount) {
  Tensors t;
  ConvParams p;
  p.stride = {1, 1};
  expect_error(t.x.view(), t.w.view(), t.y.view(), p, {"params.stride", "expected 3 values"});
}

TEST(Errors, DtypeMismatch) {
  Tensors t;
  vconv::testing::HostTensor w(DType::bf16, {16, 3, 3, 3, 8});
  expect_error(t.x.view(), w.view(), t.y.view(), {}, {"weight", "dtype mismatch", "bf16", "f32"});
  vconv::testing::HostTensor y(DType::f16, {1, 2, 4, 4, 16});
  expect_error(t.x.view(), t.w.view(), y.view(), {}, {"output", "dtype mismatch", "f16"});
}

TEST(Errors, DeviceMismatch) {
  Tensors t;
  auto w = t.w.view();
  w.device = vconv::Device::cuda(0);
  expect_error(t.x.view(), w, t.y.view(), {},
               {"device mismatch", "weight on cuda:0", "input on cpu"});
}

TEST(Errors, NegativeSize) {
  Tensors t;
  auto x = t.x.view();
  x.shape[2] = -6;
  expect_error(x, t.w.view(), t.y.view(), {}, {"input", "negative size -6", "dimension 2"});
}

TEST(Errors, OutputShape) {
  Tensors t;
  vconv::testing::HostTensor y(DType::f32, {1, 2, 4, 5, 16});
  expect_error(t.x.view(), t.w.view(), y.view(), {},
               {"output", "[1, 2, 4, 5, 16]", "expected [1, 2, 4, 4, 16]"});
}

TEST(Errors, UnsupportedStrides) {
  Tensors t;
  auto x = t.x.view();
  x.strides = {1152, 288, 48, 8, -1};
  expect_error(x, t.w.view(), t.y.view(), {}, {"input", "stride[4] = -1"});
  auto y = t.y.view();
  y.strides = {1024, 512, 128, 32, 2};  // channel stride 2: the output layout is channels-last
  expect_error(t.x.view(), t.w.view(), y, {},
               {"output", "unsupported strides", "channel", "expected 1"});
  y.strides = {512, 256, 64, 16, 1};
  y.strides[2] = 8;  // rows overlap
  expect_error(t.x.view(), t.w.view(), y, {}, {"output", "overlap"});
  auto w = t.w.view();
  w.strides = {216, 72, 24, -8, 1};
  expect_error(t.x.view(), w, t.y.view(), {}, {"weight", "stride[3] = -8"});
}

TEST(Errors, OutputAliasesInput) {
  vconv::testing::HostTensor x(DType::f32, {1, 4, 4});
  vconv::testing::HostTensor w(DType::f32, {4, 1, 4});
  expect_error(x.view(), w.view(), x.view(), {}, {"output", "overlaps the input"});
}

TEST(Errors, NullData) {
  Tensors t;
  auto x = t.x.view();
  x.data = nullptr;
  expect_error(x, t.w.view(), t.y.view(), {}, {"input", "data is null"});
}

TEST(Errors, ByteSizeOverflow) {
  // 2^62 elements fit in int64; their 2^64 bytes do not. Nothing is allocated.
  float dummy[4];
  const int64_t big = int64_t{1} << 31;
  TensorView x(dummy, DType::f32, {1, big, big, 1});
  TensorView w(dummy, DType::f32, {1, 1, 1, 1});
  TensorView y(dummy + 2, DType::f32, {1, big, big, 1});
  expect_error(x, w, y, {}, {"output byte size", "overflows int64"});
  TensorView huge(dummy, DType::f32, {big, big, big, 1});
  expect_error(huge, w, y, {}, {"overflows int64"});
}

TEST(Errors, TensorsBeyondTheSizeLimit) {
  // 7e8 x 7e8 outputs from an input dilation off by orders of magnitude: the element count fits
  // in int64 (4.9e17), the bytes too (2e18), but no process could hold them.
  vconv::ConvParams p;
  p.input_dilation = {100000000};
  auto expect_limit = [](auto&& f, const std::string& argument) {
    try {
      f();
      FAIL() << "no error";
    } catch (const vconv::Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.rfind(argument + ": shape [", 0), 0u) << argument << ": " << m;
      EXPECT_NE(m.find("expected at most 128 TiB"), std::string::npos) << m;
    }
  };
  expect_limit([&] { vconv::conv_output_shape({1, 8, 8, 1}, {1, 1, 1, 1}, p); }, "output");
  expect_limit([&] { vconv::make_problem({1, 8, 8, 1}, {1, 1, 1, 1}, p, DType::bf16); }, "output");
  // The limit is in bytes of the dtype: 2^46 elements fit in bf16 (2^47 bytes), not in f32.
  vconv::ConvParams one;
  const std::vector<int64_t> big{1, int64_t{1} << 23, int64_t{1} << 23, 1};
  EXPECT_NO_THROW(vconv::conv_output_shape(big, {1, 1, 1, 1}, one, DType::bf16));
  expect_limit([&] { vconv::conv_output_shape(big, {1, 1, 1, 1}, one, DType::f32); }, "output");
  vconv::ConvParams strided;
  strided.stride = {int64_t{1} << 22};
  expect_limit([&] { vconv::conv_output_shape(big, {1, 1, 1, 1}, strided, DType::f32); }, "input");
  const std::vector<int64_t> wide{1, 1 << 12, 1 << 12, 1};
  expect_limit(
      [&] {
        vconv::conv_output_shape(wide, {int64_t{1} << 22, 1 << 12, 1 << 12, 1}, one);
      },
      "weight");
}

TEST(Errors, DepthTapAccumulatorWithinTheWorkspace) {
  // A bf16 output's fp32 accumulator is scratch: above Options::workspace_bytes the planner
  // says why and takes another algorithm.
  const auto p = vconv::parse_problem("bf16 in=4x32x32 c=8 o=64 k=3x3x3 p=1");  // 1 MiB in fp32
  vconv::Options o;
  o.workspace_bytes = int64_t{1} << 19;
  for (const auto& c : vconv::plan_conv(p, vconv::Device::cpu(), o).candidates)
    if (c.name == "depth_tap") {
      EXPECT_FALSE(c.valid);
      EXPECT_NE(c.why_not.find("options.workspace_bytes"), std::string::npos) << c.why_not;
    }
  o.workspace_bytes = int64_t{1} << 20;
  for (const auto& c : vconv::plan_conv(p, vconv::Device::cpu(), o).candidates)
    if (c.name == "depth_tap") EXPECT_TRUE(c.valid) << c.why_not;
  // An fp32 output under an epilogue needs the same buffer (the epilogue applies to the sum).
  const auto p32 = vconv::parse_problem("f32 in=4x32x32 c=8 o=64 k=3x3x3 p=1");
  o.workspace_bytes = int64_t{1} << 19;
  o.epilogue.activation = vconv::Activation::silu;
  for (const auto& c : vconv::plan_conv(p32, vconv::Device::cpu(), o).candidates)
    if (c.name == "depth_tap") EXPECT_FALSE(c.valid);
}

TEST(Errors, ForcedAlgorithmNotValid) {
  Tensors t;
  vconv::Options o;
  o.algorithm = "no_such_algorithm";
  expect_error(t.x.view(), t.w.view(), t.y.view(), {},
               {"options.algorithm", "unknown", "reference"}, o);
  const auto p = vconv::parse_problem("f32 in=4x6x6 c=8 o=16 k=3x3x3");
  o.algorithm = "reference";
  try {
    vconv::plan_conv(p, vconv::Device::cuda(0), o);
    FAIL() << "no error";
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'reference' cannot run"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("CPU only"), std::string::npos) << e.what();
  }
}

TEST(Errors, TransposeParams) {
  EXPECT_THROW(vconv::conv_transpose_params({3}, {2}, {0}, {1}, {2}), vconv::Error);
  try {
    vconv::conv_transpose_params({3, 3}, {1, 1, 1}, {}, {}, {});
    FAIL();
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("params.stride"), std::string::npos) << e.what();
  }
}

TEST(Errors, EpilogueBias) {
  Tensors t;  // O = 16
  vconv::Options o;
  vconv::testing::HostTensor wrong_size(DType::f32, {15});
  o.epilogue.bias = wrong_size.view();
  expect_error(t.x.view(), t.w.view(), t.y.view(), {}, {"options.epilogue.bias", "[15]", "[16]"},
               o);
  vconv::testing::HostTensor rank2(DType::f32, {1, 16});
  o.epilogue.bias = rank2.view();
  expect_error(t.x.view(), t.w.view(), t.y.view(), {},
               {"options.epilogue.bias", "[1, 16]", "expected [16]"}, o);
  vconv::testing::HostTensor storage(DType::f32, {32});
  o.epilogue.bias = TensorView(storage.view().data, DType::f32, {16}, {2});  // every other one
  expect_error(t.x.view(), t.w.view(), t.y.view(), {},
               {"options.epilogue.bias", "strides [2]", "contiguous"}, o);
  vconv::testing::HostTensor bf16(DType::bf16, {16});
  o.epilogue.bias = bf16.view();
  expect_error(t.x.view(), t.w.view(), t.y.view(), {},
               {"options.epilogue.bias", "dtype mismatch", "bf16", "f32"}, o);
  vconv::testing::HostTensor bias(DType::f32, {16});
  o.epilogue.bias = bias.view();
  o.epilogue.bias.device = vconv::Device::cuda(0);
  expect_error(t.x.view(), t.w.view(), t.y.view(), {},
               {"options.epilogue.bias", "device mismatch", "cuda:0"}, o);
  // The first 16 output elements read as the bias while the store writes them.
  o.epilogue.bias = TensorView(t.y.view().data, DType::f32, {16});
  expect_error(t.x.view(), t.w.view(), t.y.view(), {}, {"options.epilogue.bias", "overlaps"}, o);
  // The same tensors pass with a separate bias.
  o.epilogue.bias = bias.view();
  EXPECT_NO_THROW(vconv::conv(t.x.view(), t.w.view(), t.y.view(), {}, o));
}

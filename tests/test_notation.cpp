// The one-line problem notation: printing, parsing, round trips and errors that point at a token.
#include <gtest/gtest.h>

#include <random>

#include "common/cases.h"
#include "vconv/vconv.h"

TEST(Notation, ParsesEveryField) {
  const auto p = vconv::parse_problem(
      "bf16 n=2 in=21x60x104 c=12 o=6 k=3x3x3 s=1x2x2 p=2:0x1x1 pm=replicate/zeros/reflect "
      "kd=1x2x2 "
      "id=1 g=3 flip");
  EXPECT_EQ(p.dtype, vconv::DType::bf16);
  EXPECT_EQ(p.dims, 3);
  EXPECT_EQ(p.n, 2);
  EXPECT_EQ(p.in, (std::array<int64_t, 3>{21, 60, 104}));
  EXPECT_EQ(p.c, 12);
  EXPECT_EQ(p.o, 6);
  EXPECT_EQ(p.groups, 3);
  EXPECT_TRUE(p.flip);
  EXPECT_EQ(p.stride, (std::array<int64_t, 3>{1, 2, 2}));
  EXPECT_EQ(p.pad_lo, (std::array<int64_t, 3>{2, 1, 1}));
  EXPECT_EQ(p.pad_hi, (std::array<int64_t, 3>{0, 1, 1}));
  EXPECT_EQ(p.kdil, (std::array<int64_t, 3>{1, 2, 2}));
  EXPECT_EQ(p.mode[0], vconv::PadMode::replicate);
  EXPECT_EQ(p.mode[2], vconv::PadMode::reflect);
  EXPECT_EQ(p.out, (std::array<int64_t, 3>{21, 29, 51}));
}

TEST(Notation, LowerDimsUseTrailingSlots) {
  const auto p = vconv::parse_problem("f32 in=10 c=3 o=4 k=3 p=1");
  EXPECT_EQ(p.dims, 1);
  EXPECT_EQ(p.in, (std::array<int64_t, 3>{1, 1, 10}));
  EXPECT_EQ(p.output_shape(), (std::vector<int64_t>{1, 10, 4}));
  EXPECT_EQ(to_string(p), "f32 n=1 in=10 c=3 o=4 k=3 p=1");
}

TEST(Notation, RoundTripsRandomProblems) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 500; ++i) {
    const auto p = vconv::testing::random_problem(rng);
    const std::string line = to_string(p);
    const auto q = vconv::parse_problem(line);
    ASSERT_EQ(to_string(q), line);
    ASSERT_EQ(q.input_shape(), p.input_shape());
    ASSERT_EQ(q.weight_shape(), p.weight_shape());
    ASSERT_EQ(q.output_shape(), p.output_shape());
    ASSERT_EQ(q.pad_lo, p.pad_lo);
    ASSERT_EQ(q.pad_hi, p.pad_hi);
    ASSERT_EQ(q.mode, p.mode);
    ASSERT_EQ(q.idil, p.idil);
    ASSERT_EQ(q.kdil, p.kdil);
    ASSERT_EQ(q.stride, p.stride);
    ASSERT_EQ(q.flip, p.flip);
    ASSERT_EQ(q.groups, p.groups);
  }
}

namespace {
// The message must carry a caret line under `token`.
void expect_points_at(const std::string& line, const std::string& token, const std::string& why) {
  try {
    vconv::parse_problem(line);
    FAIL() << "no error for '" << line << "'";
  } catch (const vconv::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(why), std::string::npos) << m;
    const std::string caret =
        "\n  " + std::string(line.find(token), ' ') + std::string(token.size(), '^');
    EXPECT_NE(m.find(caret), std::string::npos) << m;
  }
}
}  // namespace

TEST(Notation, MalformedTokensArePointedAt) {
  expect_points_at("bf16 in=4x4x4 c=8 o=8 k=3xAx3", "k=3xAx3", "'A' is not an integer");
  expect_points_at("bf16 in=4x4x4 c=8 o=8 k=3 bogus=1", "bogus=1", "unknown key 'bogus'");
  expect_points_at("bf16 in=4x4x4 c=8 o=8 k=3 pm=mirror", "pm=mirror", "pad mode 'mirror'");
  expect_points_at("bf16 in=4 c=8 o=8 k=3 p=1:2:3", "p=1:2:3", "is not 'lo:hi'");
  expect_points_at("bf16 in=4 c=8 o=8 k=3 c=9", "c=9", "given twice");
  expect_points_at("bf16 in=4 c=8 o=8 k=3 wat", "wat", "expected key=value");
}

TEST(Notation, MissingAndInvalidFields) {
  EXPECT_THROW(vconv::parse_problem(""), vconv::Error);
  try {
    vconv::parse_problem("in=4 c=8 o=8 k=3");
    FAIL();
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing the dtype"), std::string::npos) << e.what();
  }
  try {
    vconv::parse_problem("f32 in=4 c=8 o=8 k=7");
    FAIL();
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("output size would be <= 0"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("in problem 'f32 in=4 c=8 o=8 k=7'"), std::string::npos);
  }
}

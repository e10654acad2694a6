// GPU tests: every CUDA algorithm against the CPU reference on fresh random data, outputs
// poisoned before each call; a bf16 problem of more than 2^31 input elements; two streams.
// Without a GPU every test skips itself, visibly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>

#include "common/autotune_file.h"
#include "common/cases.h"
#include "common/device_copy.h"
#include "core/autotune.h"
#include "core/float16.h"
#include "core/index_map.h"
#include "vconv/vconv.h"

#ifdef VCONV_WITH_CUDA
#include <cuda_runtime.h>

#include "core/validate.h"
#include "cuda/implicit_gemm/row_info.h"
#include "cuda/tensor_map.h"
#endif

using vconv::DType;
using vconv::Problem;
using vconv::testing::HostTensor;

namespace {

#define SKIP_WITHOUT_GPU() \
  if (vconv::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped"

const vconv::Device kGpu = vconv::Device::cuda(0);

std::vector<std::string> cuda_algorithms(const Problem& p,
                                         vconv::Fp32Math mode = vconv::Fp32Math::exact) {
  vconv::Options o;
  o.fp32_math = mode;
  std::vector<std::string> names;
  for (const auto& c : vconv::conv_candidates(p, kGpu, o))
    if (c.valid) names.push_back(c.name);
  return names;
}

// Every algorithm that takes `p` under a random fp32 mode (the wgmma kernels take fp32 under
// tf32 only).
void check_on_gpu(const Problem& p, std::mt19937_64& rng, int& checked) {
  const auto mode =
      std::bernoulli_distribution(0.5)(rng) ? vconv::Fp32Math::tf32 : vconv::Fp32Math::exact;
  for (const auto& algo : cuda_algorithms(p, mode)) {
    vconv::testing::CheckOptions o;
    o.device = kGpu;
    o.strided = std::bernoulli_distribution(0.3)(rng);
    o.accumulate = std::bernoulli_distribution(0.25)(rng);
    o.fp32_math = mode;
    const auto e = vconv::testing::check_algorithm(p, algo, rng, o);
    ++checked;
    const bool tf32 = o.fp32_math == vconv::Fp32Math::tf32;
    ASSERT_TRUE(e.within(vconv::testing::tolerance(p.dtype, tf32)))
        << algo << (o.strided ? " strided" : "") << (o.accumulate ? " accumulate" : "")
        << (tf32 ? " tf32" : "") << " on '" << to_string(p) << "': " << e.to_string();
  }
}

}  // namespace

TEST(CudaSmall, RandomProblemsOverEverySemantic) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(31);
  int checked = 0;
  for (int i = 0; i < 200; ++i) check_on_gpu(vconv::testing::random_problem(rng), rng, checked);
  EXPECT_GE(checked, 200);
}

TEST(CudaSmall, VideoGrid) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(32);
  int checked = 0;
  for (int i = 0; i < 150; ++i)
    check_on_gpu(vconv::testing::random_video_problem(rng), rng, checked);
  EXPECT_GE(checked, 150);
}

TEST(CudaSmall, EveryDtypeAndFp32Mode) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(33);
  for (const char* dt : {"f32", "f16", "bf16"})
    for (const char* rest :
         {" n=2 in=9x20x24 c=32 o=48 k=3x3x3 p=2:0x1x1", " in=5x16x16 c=64 o=64 k=1x1x1",
          " in=7x10x12 c=24 o=16 k=3x1x1 p=2:0x0x0 pm=replicate",
          " in=6x18x20 c=40 o=3 k=3x3x3 p=2:0x1x1"})
      for (auto mode : {vconv::Fp32Math::exact, vconv::Fp32Math::tf32}) {
        const Problem p = vconv::parse_problem(std::string(dt) + rest);
        for (const auto& algo : cuda_algorithms(p, mode)) {
          vconv::testing::CheckOptions o;
          o.device = kGpu;
          o.fp32_math = mode;
          const auto e = vconv::testing::check_algorithm(p, algo, rng, o);
          const bool tf32 = mode == vconv::Fp32Math::tf32;
          EXPECT_TRUE(e.within(vconv::testing::tolerance(p.dtype, tf32)))
              << algo << (tf32 ? " tf32 " : " ") << to_string(p) << ": " << e.to_string();
        }
      }
}

// TF32 rounds each fp32 operand to nearest (as PyTorch's TF32 convs do in effect), on every
// algorithm: inputs 1 + 3 * 2^-12 lie 3/4 of a TF32 step (2^-10) above 1, so rounding gives
// 1 + 2^-10 and truncation (what the tensor cores do with raw fp32 bits) gives 1. With unit
// weights each output sums 64 such products, exactly representable either way: 64 + 2^-4
// rounded, 64 truncated. Truncation's bias (about 7e-4 of each product, one sign) would hold the
// random tests' 1e-3 tolerance with little room, so they alone would not tell.
TEST(CudaSmall, Tf32RoundsToNearestOnEveryAlgorithm) {
  SKIP_WITHOUT_GPU();
  const Problem p = vconv::parse_problem("f32 in=2x8x8 c=64 o=256 k=1x1x1");
  HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()),
      y(p.dtype, p.output_shape());
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, 1.0 + 3.0 * std::ldexp(1.0, -12));
  for (int64_t i = 0; i < w.numel(); ++i) w.set(i, 1.0);
  const auto algos = cuda_algorithms(p, vconv::Fp32Math::tf32);
  ASSERT_FALSE(algos.empty());
  for (const auto& algo : algos) {
    y.fill_nan();
    vconv::testing::DeviceCopy dx(x, kGpu), dw(w, kGpu), dy(y, kGpu);
    vconv::Options o;
    o.algorithm = algo;
    o.fp32_math = vconv::Fp32Math::tf32;
    vconv::conv(dx.view(), dw.view(), dy.view(), p.params(), o);
    dy.download();
    int64_t wrong = 0;
    for (int64_t i = 0; i < y.numel(); ++i) wrong += y.get(i) != 64.0 + 0.0625;
    EXPECT_EQ(wrong, 0) << algo << ": first output " << y.get(0) << ", 64.0625 expected";
  }
}

// Exact fp32 must hold fp32's tolerance over long reductions too, where rounding that is biased
// (a tensor core truncating into its accumulator) grows with the reduction length.
TEST(CudaSmall, ExactFp32OverLongReductions) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(35);
  for (const char* text :
       {"f32 in=4x6x6 c=1024 o=24 k=3x3x3", "f32 in=3x5x40 c=2048 o=8 k=3x3x3"}) {
    const Problem p = vconv::parse_problem(text);
    for (const auto& algo : cuda_algorithms(p, vconv::Fp32Math::exact)) {
      vconv::testing::CheckOptions o;
      o.device = kGpu;
      const auto e = vconv::testing::check_algorithm(p, algo, rng, o);
      EXPECT_TRUE(e.within(vconv::testing::tolerance(DType::f32, false)))
          << algo << " " << text << ": " << e.to_string();
    }
  }
}

// The wgmma kernel on the problems whose edges it handles separately: channel counts that fill
// part of a 64-channel k-block, output channels past a tile's width, row tiles cut by the
// problem's end, depth padding in each mode, strides, dilation, batches, groups, flip; each of its
// tiles (128 x 256 where output channels per group are a multiple of 256, the warp-specialized
// kernel's 128 x 192 where they are a multiple of 192 instead, else 256 x 128).
// The warp-specialized persistent kernel also on problems with more tiles than SMs (CTAs walk
// several tiles, several output-channel tiles and groups among them) and with tiles whose rows
// all read depth padding (the producer's zero tile); its im2col variant on the problems it takes.
// Both warp-specialized kernels also in fp32 as TF32 (32-channel k-blocks, rounded by the
// producer).
TEST(CudaSmall, WgmmaKernelOnItsEdges) {
  SKIP_WITHOUT_GPU();
  const Problem probe = vconv::parse_problem("bf16 in=4x8x8 c=64 o=64 k=3x3x3");
  std::vector<std::string> algos;
  for (const auto& c : vconv::conv_candidates(probe, kGpu, vconv::Options{}))
    if (c.name.rfind("cuda_implicit_gemm_sm90", 0) == 0) {
      if (!c.valid) GTEST_SKIP() << c.name << " cannot run here: " << c.why_not;
      algos.push_back(c.name);
    }
  ASSERT_EQ(algos.size(), 3u);
  std::mt19937_64 rng(36);
  std::map<std::string, int> checked;
  for (const std::string& kAlgo : algos)
    for (const char* dt : {"bf16", "f16", "f32"})
      for (const char* rest :
           {" in=5x12x20 c=64 o=128 k=3x3x3 p=1x1x1", " n=2 in=9x10x14 c=8 o=40 k=3x3x3 p=2:0x1x1",
            " in=6x9x11 c=72 o=130 k=3x3x3 p=2:0x1x1 pm=replicate",
            " in=7x16x16 c=200 o=256 k=3x3x3 s=1x2x2 p=1x1x1 pm=reflect",
            " in=5x8x24 c=128 o=64 k=1x1x1", " in=8x12x12 c=48 o=16 k=3x3x3 kd=2x1x2 p=2x1x2",
            " n=3 in=4x6x7 c=64 o=96 k=2x3x3 g=2 p=1:0x0x1",
            " in=9x14x18 c=136 o=8 k=3x1x1 p=2:0x0x0",
            " n=2 in=5x9x13 c=64 o=512 k=3x3x3 g=2 p=1x1x1 flip",
            " n=2 in=5x36x32 c=8 o=384 k=3x3x3 p=2:0x1x1",
            " n=2 in=4x34x34 c=16 o=512 k=3x3x3 g=2 p=1x1x1 pm=replicate",
            " in=3x16x16 c=64 o=128 k=3x3x3 p=4:0x1x1", " in=3x16x16 c=64 o=256 k=3x3x3 p=4:0x1x1",
            " n=2 in=4x10x14 c=96 o=192 k=3x3x3 p=1x1x1",
            " in=3x9x40 c=64 o=1152 k=1x3x3 g=2 p=0x1x1",
            " in=3x16x16 c=64 o=192 k=3x3x3 p=4:0x1x1",
            // Zero-padded, so the im2col variant takes them too: stride with flip, and groups of
            // whole 64-channel k-blocks.
            " n=2 in=5x16x17 c=128 o=256 k=3x3x3 s=1x2x2 p=1x1x1 flip",
            " in=4x9x13 c=128 o=384 k=3x3x3 g=2 p=1x1x1"})
        for (bool accumulate : {false, true}) {
          const Problem p = vconv::parse_problem(std::string(dt) + rest);
          const bool tf32 = p.dtype == DType::f32;
          // The im2col copies: zero padding only; fp32 on the warp-specialized kernels only.
          const auto valid =
              cuda_algorithms(p, tf32 ? vconv::Fp32Math::tf32 : vconv::Fp32Math::exact);
          if (std::find(valid.begin(), valid.end(), kAlgo) == valid.end()) continue;
          vconv::testing::CheckOptions o;
          o.device = kGpu;
          o.accumulate = accumulate;
          o.strided = accumulate;
          o.fp32_math = tf32 ? vconv::Fp32Math::tf32 : vconv::Fp32Math::exact;
          const auto e = vconv::testing::check_algorithm(p, kAlgo, rng, o);
          ++checked[kAlgo];
          EXPECT_TRUE(e.within(vconv::testing::tolerance(p.dtype, tf32)))
              << kAlgo << (accumulate ? " accumulate strided " : " ") << to_string(p) << ": "
              << e.to_string();
        }
  EXPECT_EQ(checked["cuda_implicit_gemm_sm90"], 2 * 18 * 2);
  EXPECT_EQ(checked["cuda_implicit_gemm_sm90_ws"], 3 * 18 * 2);
  // Its zero-padded problems: not replicate or reflect, nor groups whose channels split a
  // 128-byte k-block (12 of the 18 in bf16 and f16, 15 in fp32, whose 32-channel groups fill one).
  EXPECT_EQ(checked["cuda_implicit_gemm_sm90_im2col"], 2 * 12 * 2 + 15 * 2);
}

// The fused epilogue (bias, SiLU, both; stored, and accumulated into strided outputs) on every
// CUDA algorithm that runs each problem, against the reference.
TEST(CudaSmall, EpilogueOnEveryAlgorithm) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(40);
  std::map<std::string, int> checked;
  for (const char* text :
       {"bf16 n=2 in=5x12x16 c=64 o=256 k=3x3x3 p=2:0x1x1",
        "f16 in=4x10x12 c=32 o=48 k=3x3x3 p=1 g=2", "f32 in=4x9x9 c=16 o=24 k=3x3x3 p=1",
        "bf16 in=3x8x8 c=16 o=3 k=3x3x3 p=2:0x1x1", "bf16 in=5x6x7 c=24 o=40 k=1x1x1",
        "f16 in=6x10x10 c=64 o=384 k=3x3x3 p=1 pm=replicate"}) {
    const Problem p = vconv::parse_problem(text);
    for (const auto& algo : cuda_algorithms(p))
      for (int form = 0; form < 4; ++form) {
        vconv::testing::CheckOptions o;
        o.device = kGpu;
        o.bias = form != 1;
        o.activation = form >= 1 ? vconv::Activation::silu : vconv::Activation::none;
        o.accumulate = form == 3;
        o.strided = form == 3;
        const auto e = vconv::testing::check_algorithm(p, algo, rng, o);
        ++checked[algo];
        EXPECT_TRUE(e.within(vconv::testing::tolerance(p.dtype, false)))
            << algo << " form " << form << " " << text << ": " << e.to_string();
      }
  }
  for (const char* algo : {"cuda_gemm_fallback", "cuda_implicit_gemm", "cuda_depth_tap_2d"})
    EXPECT_GE(checked[algo], 8) << algo;
}

// The output and input index maps of the video extensions, and the residual, on every CUDA
// algorithm that applies them (every one does), every dtype: depth-to-space (Wan's time conv C ->
// 2C, pixel shuffle) through OutputRow, nearest upsampling (Wan's 2x spatial Resample, causal in
// time as HunyuanVideo's) through input_index_at(), a residual with and without them.
TEST(CudaSmall, IndexMapsAndResidualOnEveryAlgorithm) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(42);
  std::map<std::string, int> checked;
  for (const char* text :
       {"bf16 in=3x6x8 c=64 o=256 k=3x1x1 p=2:0x0x0 d2s=2x1x1",
        "f16 n=2 in=2x5x6 c=32 o=128 k=1x3x3 p=0x1x1 d2s=1x2x2",
        "f32 in=3x4x5 c=16 o=32 k=3x3x3 p=1 d2s=2x2x1",
        "bf16 in=2x6x7 c=64 o=128 k=1x3x3 p=0x1x1 up=1x2x2",
        "f16 in=3x4x5 c=32 o=64 k=3x3x3 p=2:0x1x1 pm=replicate up=2x2x2 causal_up",
        "f32 in=3x5x4 c=16 o=24 k=3x3x3 p=1 up=1x2x2 d2s=1x2x2 pm=reflect",
        "bf16 n=2 in=5x12x16 c=64 o=256 k=3x3x3 p=2:0x1x1",
        "f16 in=4x10x12 c=32 o=48 k=3x3x3 p=1 g=2", "bf16 in=5x6x7 c=24 o=40 k=1x1x1"}) {
    const Problem p = vconv::parse_problem(text);
    const bool plain =
        p.up == std::array<int64_t, 3>{1, 1, 1} && p.d2s == std::array<int64_t, 3>{1, 1, 1};
    for (const auto& algo : cuda_algorithms(p))
      for (int form = 0; form < 3; ++form) {
        if (plain && form == 0) continue;  // the plain conv is every other test's
        vconv::testing::CheckOptions o;
        o.device = kGpu;
        o.residual = form >= 1;
        o.bias = form == 2;
        o.activation = form == 2 ? vconv::Activation::silu : vconv::Activation::none;
        o.accumulate = form == 2;
        o.strided = form == 2;
        const auto e = vconv::testing::check_algorithm(p, algo, rng, o);
        ++checked[algo];
        EXPECT_TRUE(e.within_bound())
            << algo << " form " << form << " " << text << ": " << e.to_string();
      }
  }
  for (const char* algo : {"cuda_gemm_fallback", "cuda_implicit_gemm", "cuda_depth_tap_2d"})
    EXPECT_GE(checked[algo], 10) << algo;
  EXPECT_GE(checked["cuda_implicit_gemm_sm90"], 4);
}

// Options::autotune on a GPU: every valid CUDA algorithm timed with events, the winner run on
// the caller's tensors, kept in the cache file under the GPU's ordinal and model, and taken from
// the file again after the in-memory cache is cleared.
TEST(CudaSmall, AutotuneMeasuresOnTheGpu) {
  SKIP_WITHOUT_GPU();
  const vconv::testing::ScopedAutotuneFile cache_file(::testing::TempDir() +
                                                      "vconv_autotune_gpu_cache.txt");
  const std::string& path = cache_file.path();
  std::mt19937_64 rng(37);
  const Problem p = vconv::parse_problem("bf16 in=5x12x16 c=64 o=64 k=3x3x3 p=2:0x1x1");
  HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()),
      y(p.dtype, p.output_shape()), ref(p.dtype, p.output_shape());
  x.fill_uniform(rng);
  w.fill_uniform(rng);
  vconv::conv_reference(x.view(), w.view(), ref.view(), p.params());
  vconv::Options o;
  o.autotune = true;
  std::string entry;
  for (int pass = 0; pass < 2; ++pass) {
    y.fill_nan();
    vconv::testing::DeviceCopy dx(x, kGpu), dw(w, kGpu), dy(y, kGpu);
    vconv::conv(dx.view(), dw.view(), dy.view(), p.params(), o);
    dy.download();
    EXPECT_TRUE(vconv::testing::compare(y, ref).within(vconv::testing::tolerance(p.dtype, false)))
        << "pass " << pass;
    std::ifstream f(path);
    std::string header, line;
    ASSERT_TRUE(std::getline(f, header) && std::getline(f, line)) << "no cache entry";
    EXPECT_FALSE(std::getline(f, header)) << "the second pass measured again";
    if (pass == 0) entry = line;
    EXPECT_EQ(line, entry);
    vconv::clear_autotune_cache();
  }
  EXPECT_EQ(entry.rfind(to_string(p) + "\tcuda:0 (", 0), 0u) << entry;
  EXPECT_NE(entry.find(")\tcuda_"), std::string::npos) << entry;
}

TEST(CudaSmall, CudaAlgorithmRejectsHostTensors) {
  SKIP_WITHOUT_GPU();
  const Problem p = vconv::parse_problem("f32 in=4x6x6 c=8 o=8 k=3x3x3");
  HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()),
      y(p.dtype, p.output_shape());
  vconv::Options o;
  o.algorithm = "cuda_gemm_fallback";
  try {
    vconv::conv(x.view(), w.view(), y.view(), p.params(), o);
    FAIL() << "no error";
  } catch (const vconv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("runs on CUDA devices only"), std::string::npos)
        << e.what();
  }
}

#ifdef VCONV_WITH_CUDA
TEST(CudaSmall, TwoStreamsMatchSerialCalls) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(34);
  const Problem pa = vconv::parse_problem("bf16 n=2 in=9x32x32 c=64 o=64 k=3x3x3 p=2:0x1x1");
  const Problem pb = vconv::parse_problem("f16 in=7x24x40 c=32 o=48 k=3x3x3 p=1 pm=replicate");
  struct Case {
    Problem p;
    HostTensor x, w, y_serial, y_streamed;
  };
  std::vector<Case> cases;
  for (const Problem& p : {pa, pb}) {
    Case c{p, HostTensor(p.dtype, p.input_shape()), HostTensor(p.dtype, p.weight_shape()),
           HostTensor(p.dtype, p.output_shape()), HostTensor(p.dtype, p.output_shape())};
    c.x.fill_uniform(rng);
    c.w.fill_uniform(rng);
    c.y_serial.fill_nan();
    c.y_streamed.fill_nan();
    cases.push_back(std::move(c));
  }
  // Every algorithm that runs both problems (im2col copies read through zero padding alone).
  const std::vector<std::string> runs_b = cuda_algorithms(pb);
  std::vector<std::string> algos;
  for (const auto& a : cuda_algorithms(pa))
    if (std::find(runs_b.begin(), runs_b.end(), a) != runs_b.end()) algos.push_back(a);
  ASSERT_GE(algos.size(), 3u);
  for (const auto& algo : algos) {
    std::vector<std::unique_ptr<vconv::testing::DeviceCopy>> buffers;
    cudaStream_t streams[2];
    for (auto& s : streams) ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
    for (int pass = 0; pass < 2; ++pass) {  // serial, then both at once on two streams
      for (size_t i = 0; i < cases.size(); ++i) {
        Case& c = cases[i];
        auto& y = pass == 0 ? c.y_serial : c.y_streamed;
        buffers.push_back(std::make_unique<vconv::testing::DeviceCopy>(c.x, kGpu));
        auto* x = buffers.back().get();
        buffers.push_back(std::make_unique<vconv::testing::DeviceCopy>(c.w, kGpu));
        auto* w = buffers.back().get();
        buffers.push_back(std::make_unique<vconv::testing::DeviceCopy>(y, kGpu));
        vconv::Options o;
        o.algorithm = algo;
        o.stream = streams[i];
        vconv::conv(x->view(), w->view(), buffers.back()->view(), c.p.params(), o);
        if (pass == 0) ASSERT_EQ(cudaStreamSynchronize(streams[i]), cudaSuccess);
      }
      for (auto& s : streams) ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
      for (size_t i = 0; i < cases.size(); ++i)
        buffers[buffers.size() - 3 * cases.size() + 3 * i + 2]->download();
    }
    for (auto& s : streams) cudaStreamDestroy(s);
    for (auto& c : cases) {
      // Written (the outputs were NaN before), then the same bits either way.
      bool written = true;
      for (int64_t i = 0; i < c.y_serial.numel() && written; ++i)
        written = !std::isnan(c.y_serial.get(i));
      EXPECT_TRUE(written) << algo << " " << to_string(c.p) << ": NaN left in the output";
      EXPECT_EQ(
          std::memcmp(c.y_serial.storage(), c.y_streamed.storage(), c.y_serial.storage_bytes()), 0)
          << algo << " " << to_string(c.p);
    }
  }
}

// A sequence of convs captured into a CUDA graph (planned before, as a model's first call plans)
// replays to the same bits as the direct calls: nothing in a call allocates outside the stream,
// synchronizes or reads the host during capture.
TEST(CudaSmall, GraphCaptureReplaysDirectCalls) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(38);
  std::vector<Problem> problems;
  for (const char* text :
       {"bf16 n=2 in=5x12x16 c=64 o=128 k=3x3x3 p=2:0x1x1 pm=replicate",
        "bf16 in=4x10x12 c=96 o=64 k=1x1x1", "f16 in=6x8x8 c=32 o=256 k=3x1x1 p=2:0x0x0",
        "f32 in=4x9x9 c=16 o=24 k=3x3x3 p=1"})
    problems.push_back(vconv::parse_problem(text));
  std::vector<HostTensor> xs, ws, direct, replayed;
  std::vector<std::unique_ptr<vconv::testing::DeviceCopy>> dx, dw, dy;
  for (const Problem& p : problems) {
    xs.emplace_back(p.dtype, p.input_shape());
    ws.emplace_back(p.dtype, p.weight_shape());
    xs.back().fill_uniform(rng);
    ws.back().fill_uniform(rng);
    direct.emplace_back(p.dtype, p.output_shape());
    replayed.emplace_back(p.dtype, p.output_shape());
  }
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  vconv::Options o;
  o.stream = stream;
  for (size_t i = 0; i < problems.size(); ++i) {
    direct[i].fill_nan();
    replayed[i].fill_nan();
    dx.push_back(std::make_unique<vconv::testing::DeviceCopy>(xs[i], kGpu));
    dw.push_back(std::make_unique<vconv::testing::DeviceCopy>(ws[i], kGpu));
    dy.push_back(std::make_unique<vconv::testing::DeviceCopy>(direct[i], kGpu));
    vconv::conv(dx[i]->view(), dw[i]->view(), dy[i]->view(), problems[i].params(), o);
  }
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  for (size_t i = 0; i < problems.size(); ++i) {
    dy[i]->download();
    dy[i] = std::make_unique<vconv::testing::DeviceCopy>(replayed[i], kGpu);
  }
  cudaGraph_t graph;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  for (size_t i = 0; i < problems.size(); ++i)
    vconv::conv(dx[i]->view(), dw[i]->view(), dy[i]->view(), problems[i].params(), o);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  for (size_t i = 0; i < problems.size(); ++i) {
    dy[i]->download();
    EXPECT_EQ(std::memcmp(direct[i].storage(), replayed[i].storage(), direct[i].storage_bytes()), 0)
        << to_string(problems[i]);
  }
}

// The weight's tensor map is encoded once per weight (address, shape, strides, box), not per call.
// cuda_implicit_gemm_sm90_im2col (A by the copy engine): offered for the usual video-VAE convs
// (zero or causal padding, strides the engine steps, 16-byte pixel strides), refused with a
// reason for what its map cannot address (the other pad modes, upsampling, a channel count whose
// pixels are not 16-byte strided, a frame cache). Whether its results are right is the GPU
// tests' that run every valid algorithm, and WgmmaKernelOnItsEdges'.
TEST(CudaSmall, Im2colAlgorithmTakesZeroPaddedConvs) {
  SKIP_WITHOUT_GPU();
  struct Case {
    const char* problem;
    bool applies;
  };
  const char* kAlgo = "cuda_implicit_gemm_sm90_im2col";
  for (const Case& c : {Case{"bf16 in=5x12x20 c=64 o=128 k=3x3x3 p=1x1x1", true},
                        Case{"f16 n=2 in=9x10x14 c=64 o=40 k=3x3x3 p=2:0x1x1", true},
                        Case{"bf16 in=7x16x16 c=128 o=256 k=3x3x3 s=1x2x2 p=1x1x1", true},
                        Case{"bf16 in=6x8x8 c=64 o=64 k=3x3x3 p=2:0x1x1 pm=replicate", false},
                        Case{"bf16 in=4x6x7 c=64 o=64 k=1x3x3 p=0x1x1 up=1x2x2", false},
                        Case{"bf16 n=3 in=4x6x7 c=64 o=96 k=2x3x3 g=2 p=1:0x0x1", false},
                        Case{"bf16 in=4x40x40 c=64 o=64 k=1x3x3 kd=1x16x16 p=0x16x16", false}}) {
    SCOPED_TRACE(c.problem);
    const Problem p = vconv::parse_problem(c.problem);
    const auto algos = cuda_algorithms(p);
    if (std::find(algos.begin(), algos.end(), "cuda_implicit_gemm_sm90_ws") == algos.end()) {
      ADD_FAILURE() << "the ws kernel refuses it: not a case of this test";
      continue;
    }
    bool applies = std::find(algos.begin(), algos.end(), kAlgo) != algos.end();
    std::string why;
    if (applies) {  // the problem's side; the tensors' (alignment, strides) on the call
      HostTensor x(p.dtype, p.input_shape());
      vconv::testing::DeviceCopy dx(x, kGpu);
      why = vconv::cuda::why_not_im2col_input(vconv::checked_view5(dx.view()), p.dtype);
      applies = why.empty();
    }
    EXPECT_EQ(applies, c.applies) << why;
  }
  {  // a broadcast input (stride 0 over frames) is refused before any tensor map is encoded
    const Problem p = vconv::parse_problem("bf16 in=5x12x20 c=64 o=128 k=3x3x3 p=1x1x1");
    HostTensor x(p.dtype, p.input_shape());
    vconv::testing::DeviceCopy dx(x, kGpu);
    auto broadcast = vconv::checked_view5(dx.view());
    broadcast.strides[1] = 0;
    EXPECT_NE(vconv::cuda::why_not_im2col_input(broadcast, p.dtype), "");
  }
  const Problem p = vconv::parse_problem("bf16 in=5x12x20 c=64 o=128 k=3x3x3 p=2:0x1x1");
  HostTensor cache(p.dtype, {p.n, 2, p.in[1], p.in[2], p.c});
  vconv::Options with_cache;
  with_cache.frame_cache.next = cache.view();
  for (const auto& c : vconv::conv_candidates(p, kGpu, with_cache))
    if (c.name == kAlgo) EXPECT_FALSE(c.valid) << "a frame cache is read through the gather";
}

TEST(CudaSmall, WeightTensorMapEncodedOncePerWeight) {
  SKIP_WITHOUT_GPU();
  const Problem p = vconv::parse_problem("bf16 in=4x8x8 c=64 o=128 k=3x3x3 p=1");
  const auto algos = cuda_algorithms(p);
  if (std::find(algos.begin(), algos.end(), "cuda_implicit_gemm_sm90_ws") == algos.end())
    GTEST_SKIP() << "cuda_implicit_gemm_sm90_ws cannot run here";
  std::mt19937_64 rng(39);
  HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()),
      w2(p.dtype, p.weight_shape()), y(p.dtype, p.output_shape());
  x.fill_uniform(rng);
  w.fill_uniform(rng);
  w2.fill_uniform(rng);
  vconv::testing::DeviceCopy dx(x, kGpu), dw(w, kGpu), dw2(w2, kGpu), dy(y, kGpu);
  vconv::Options o;
  o.algorithm = "cuda_implicit_gemm_sm90_ws";
  // The cache is process-wide and keyed by address: an earlier test's freed weight of this shape
  // may have left a (still valid) map at the address `dw` got, so the first call may not encode.
  const int64_t before = vconv::cuda::weight_tensor_map_encodings();
  vconv::conv(dx.view(), dw.view(), dy.view(), p.params(), o);
  const int64_t after_first = vconv::cuda::weight_tensor_map_encodings();
  EXPECT_LE(after_first, before + 1);
  for (int i = 0; i < 2; ++i) vconv::conv(dx.view(), dw.view(), dy.view(), p.params(), o);
  EXPECT_EQ(vconv::cuda::weight_tensor_map_encodings(), after_first) << "encoded again";
  vconv::conv(dx.view(), dw2.view(), dy.view(), p.params(), o);
  EXPECT_LE(vconv::cuda::weight_tensor_map_encodings(), after_first + 1);
}

namespace {

// Frames [first, first + count) of a [N, T, H, W, C] view.
vconv::TensorView frame_range(vconv::TensorView v, int64_t first, int64_t count) {
  const std::vector<int64_t> strides =
      v.strides.empty() ? vconv::TensorView::contiguous_strides(v.shape) : v.strides;
  v.data = static_cast<char*>(v.data) + first * strides[1] * vconv::dtype_size(v.dtype);
  v.shape[1] = count;
  v.strides = strides;
  return v;
}

struct StreamOnGpu {
  const char* problem;  // the whole sequence's problem (causal in time)
  std::vector<int64_t> chunks;
  bool short_cache;  // the second call gets a one-frame cache (Wan's decoder after a 1-frame chunk)
};

// Runs `c`'s chunks through `algo` on the GPU and through the reference on the CPU, each call
// continuing from the cache the previous one wrote: the outputs agree within the dtype's
// tolerance with one reference call over the whole sequence, and every `next` bitwise.
void check_stream_on_gpu(const StreamOnGpu& c, const std::string& algo, std::mt19937_64& rng) {
  SCOPED_TRACE(algo + " on '" + c.problem + "'");
  const Problem p = vconv::parse_problem(c.problem);
  const int64_t f = (p.k[0] - 1) * p.kdil[0];
  HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape());
  HostTensor whole(p.dtype, p.output_shape()), streamed(p.dtype, p.output_shape());
  x.fill_normal(rng);
  w.fill_normal(rng);
  streamed.fill_nan();
  vconv::Options reference;
  reference.algorithm = "reference";
  vconv::conv(x.view(), w.view(), whole.view(), p.params(), reference);
  const std::vector<int64_t> cache_shape{p.n, f, p.in[1], p.in[2], p.c};
  HostTensor host_cache[2] = {{p.dtype, cache_shape}, {p.dtype, cache_shape}};
  HostTensor gpu_cache[2] = {{p.dtype, cache_shape}, {p.dtype, cache_shape}};
  HostTensor host_out(p.dtype, p.output_shape());
  vconv::testing::DeviceCopy dx(x, kGpu), dw(w, kGpu), dy(streamed, kGpu);
  vconv::testing::DeviceCopy dcache0(gpu_cache[0], kGpu), dcache1(gpu_cache[1], kGpu);
  vconv::testing::DeviceCopy* dcache[2] = {&dcache0, &dcache1};
  int64_t start = 0;
  for (size_t i = 0; i < c.chunks.size(); ++i) {
    const int64_t t = c.chunks[i];
    const int cur = i % 2, prev = 1 - cur;
    vconv::Options on_gpu, on_cpu = reference;
    on_gpu.algorithm = algo;
    if (c.short_cache && i == 1) {
      on_gpu.frame_cache.previous = frame_range(dx.view(), start - 1, 1);
      on_cpu.frame_cache.previous = frame_range(x.view(), start - 1, 1);
    } else if (i > 0) {
      on_gpu.frame_cache.previous = dcache[prev]->view();
      on_cpu.frame_cache.previous = host_cache[prev].view();
    }
    gpu_cache[cur].fill_nan();
    dcache[cur]->upload();
    on_gpu.frame_cache.next = dcache[cur]->view();
    on_cpu.frame_cache.next = host_cache[cur].view();
    vconv::conv(frame_range(dx.view(), start, t), dw.view(), frame_range(dy.view(), start, t),
                p.params(), on_gpu);
    vconv::conv(frame_range(x.view(), start, t), w.view(), frame_range(host_out.view(), start, t),
                p.params(), on_cpu);
    dcache[cur]->download();
    ASSERT_EQ(std::memcmp(gpu_cache[cur].storage(), host_cache[cur].storage(),
                          gpu_cache[cur].storage_bytes()),
              0)
        << "next cache after chunk " << i;
    start += t;
  }
  dy.download();
  const auto e = vconv::testing::compare(streamed, whole);
  EXPECT_TRUE(e.within(vconv::testing::tolerance(p.dtype, false))) << e.to_string();
}

}  // namespace

// Streaming causal convs (Options::frame_cache) on every CUDA algorithm that reads a cache:
// chunked calls against one reference call, caches against the reference's, a short first cache.
TEST(CudaSmall, FrameCacheOnEveryAlgorithm) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(41);
  std::map<std::string, int> checked;
  const StreamOnGpu cases[] = {
      {"bf16 n=2 in=6x6x10 c=64 o=256 k=3x3x3 p=2:0x1x1", {2, 1, 3}, false},
      {"bf16 in=5x6x10 c=64 o=128 k=3x3x3 p=2:0x1x1", {1, 3, 1}, true},
      {"f16 in=6x5x7 c=32 o=48 k=3x3x3 p=2:0x1x1 pm=replicate", {3, 1, 2}, false},
      {"f32 in=5x4x6 c=16 o=24 k=2x3x3 kd=2x1x1 p=2:0x1x1", {1, 1, 3}, true}};
  for (const StreamOnGpu& c : cases) {
    const Problem p = vconv::parse_problem(c.problem);
    HostTensor cache(p.dtype, {p.n, (p.k[0] - 1) * p.kdil[0], p.in[1], p.in[2], p.c});
    vconv::Options with_cache;
    with_cache.frame_cache.next = cache.view();  // only its presence matters to the planner
    for (const auto& candidate : vconv::conv_candidates(p, kGpu, with_cache))
      if (candidate.valid) {
        check_stream_on_gpu(c, candidate.name, rng);
        ++checked[candidate.name];
      }
  }
  for (const char* algo : {"cuda_implicit_gemm", "cuda_depth_tap_2d"}) EXPECT_EQ(checked[algo], 4);
  EXPECT_EQ(checked.count("cuda_gemm_fallback"), 0u) << "it does not read a cache";
}

// The input prologue on the GPU (conv()'s staging pass, cuda/prologue.cu, then the algorithm) for
// every CUDA algorithm, each norm and dtype, strided inputs included, against the reference
// applying it as it reads.
TEST(CudaSmall, PrologueOnEveryAlgorithm) {
  SKIP_WITHOUT_GPU();
  using vconv::Activation;
  using vconv::Norm;
  struct PrologueOnGpu {
    const char* problem;
    Norm norm;
    int64_t groups;
    Activation activation;
    bool strided;
  };
  const PrologueOnGpu cases[] = {
      {"bf16 n=2 in=3x6x8 c=64 o=64 k=3x3x3 p=2:0x1x1", Norm::group_norm, 32, Activation::silu,
       false},
      {"f16 in=3x5x7 c=32 o=48 k=3x3x3 p=2:0x1x1 pm=replicate", Norm::rms_norm, 0, Activation::silu,
       true},
      {"f32 in=2x5x6 c=16 o=24 k=3x3x3 p=1 pm=reflect", Norm::group_norm, 4, Activation::none,
       true},
      {"bf16 in=4x6x6 c=32 o=32 k=1x3x3 p=0x1x1", Norm::scale_shift, 0, Activation::silu, false},
      {"f32 in=3x4x5 c=16 o=16 k=3x3x3 p=2:0x1x1", Norm::none, 0, Activation::silu, false}};
  std::mt19937_64 rng(43);
  std::map<std::string, int> checked;
  for (const PrologueOnGpu& c : cases) {
    const Problem p = vconv::parse_problem(c.problem);
    const auto xs = p.input_shape();
    HostTensor x(p.dtype, xs,
                 c.strided ? std::vector<int64_t>(xs.size(), 1) : std::vector<int64_t>{});
    HostTensor w(p.dtype, p.weight_shape()), scale(p.dtype, {p.c}), shift(p.dtype, {p.c});
    HostTensor expected(p.dtype, p.output_shape());
    x.fill_uniform(rng, -1.0, 3.0);  // a mean away from zero, so that the norm's shift matters
    w.fill_normal(rng);
    scale.fill_uniform(rng, 0.5, 1.5);
    shift.fill_uniform(rng, -0.5, 0.5);
    vconv::Options on_cpu;
    on_cpu.algorithm = "reference";
    on_cpu.prologue.norm = c.norm;
    on_cpu.prologue.groups = c.groups;
    on_cpu.prologue.eps = c.norm == Norm::rms_norm ? 1e-12 : 1e-5;
    on_cpu.prologue.activation = c.activation;
    if (c.norm != Norm::none) {
      on_cpu.prologue.scale = scale.view();
      on_cpu.prologue.shift = shift.view();
    }
    vconv::conv(x.view(), w.view(), expected.view(), p.params(), on_cpu);
    vconv::testing::DeviceCopy dx(x, kGpu), dw(w, kGpu), dscale(scale, kGpu), dshift(shift, kGpu);
    for (const auto& algo : cuda_algorithms(p)) {
      HostTensor y(p.dtype, p.output_shape());
      y.fill_nan();
      vconv::testing::DeviceCopy dy(y, kGpu);
      vconv::Options on_gpu = on_cpu;
      on_gpu.algorithm = algo;
      if (c.norm != Norm::none) {
        on_gpu.prologue.scale = dscale.view();
        on_gpu.prologue.shift = dshift.view();
      }
      vconv::conv(dx.view(), dw.view(), dy.view(), p.params(), on_gpu);
      dy.download();
      const auto e = vconv::testing::compare(y, expected);
      EXPECT_TRUE(e.within(vconv::testing::tolerance(p.dtype, false)))
          << algo << " on '" << c.problem << "': " << e.to_string();
      ++checked[algo];
    }
  }
  for (const char* algo : {"cuda_gemm_fallback", "cuda_implicit_gemm", "cuda_depth_tap_2d"})
    EXPECT_GE(checked[algo], 4) << algo;
  EXPECT_GE(checked["cuda_implicit_gemm_sm90"], 2);
}

// A streaming call with a per-pixel prologue (Wan's RMS norm + SiLU) on the GPU: chunks of any
// length give bitwise the one call over the whole sequence (the algorithm fixed), as on the CPU.
TEST(CudaSmall, PrologueStreamsBitwise) {
  SKIP_WITHOUT_GPU();
  const Problem p = vconv::parse_problem("bf16 in=6x6x8 c=32 o=32 k=3x3x3 p=2:0x1x1");
  std::mt19937_64 rng(44);
  HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()), gamma(p.dtype, {p.c});
  HostTensor whole(p.dtype, p.output_shape()), chunked(p.dtype, p.output_shape());
  x.fill_normal(rng);
  w.fill_normal(rng);
  gamma.fill_uniform(rng, 0.5, 1.5);
  const std::vector<int64_t> cache_shape{p.n, 2, p.in[1], p.in[2], p.c};
  HostTensor cache0(p.dtype, cache_shape), cache1(p.dtype, cache_shape);
  vconv::testing::DeviceCopy dx(x, kGpu), dw(w, kGpu), dgamma(gamma, kGpu);
  vconv::testing::DeviceCopy dwhole(whole, kGpu), dchunked(chunked, kGpu);
  vconv::testing::DeviceCopy dcache0(cache0, kGpu), dcache1(cache1, kGpu);
  vconv::testing::DeviceCopy* caches[2] = {&dcache0, &dcache1};
  vconv::Options o;
  o.algorithm = "cuda_implicit_gemm";
  o.prologue = {vconv::Norm::rms_norm, 0, 1e-12, dgamma.view(), {}, vconv::Activation::silu};
  vconv::conv(dx.view(), dw.view(), dwhole.view(), p.params(), o);
  int64_t start = 0;
  int which = 0;  // the cache this chunk writes; the other holds the previous chunk's
  for (int64_t t : {2, 1, 3}) {
    vconv::Options chunk = o;
    if (start > 0) chunk.frame_cache.previous = caches[1 - which]->view();
    chunk.frame_cache.next = caches[which]->view();
    vconv::conv(frame_range(dx.view(), start, t), dw.view(), frame_range(dchunked.view(), start, t),
                p.params(), chunk);
    start += t;
    which = 1 - which;
  }
  dwhole.download();
  dchunked.download();
  ASSERT_EQ(std::memcmp(whole.storage(), chunked.storage(), whole.storage_bytes()), 0);
}

TEST(CudaLarge, Bf16InputOver2To31Elements) {
  SKIP_WITHOUT_GPU();
  // 3 x 1024 x 1024 x 700 = 2.2e9 input elements (4.4 GB): every offset needs 64 bits.
  const Problem p = vconv::parse_problem("bf16 in=3x1024x1024 c=700 o=8 k=3x3x3 p=2:0x1x1");
  ASSERT_GT(p.n * p.in[0] * p.in[1] * p.in[2] * p.c, int64_t{1} << 31);
  HostTensor x(p.dtype, p.input_shape()), w(p.dtype, p.weight_shape()),
      y(p.dtype, p.output_shape());
  // A cheap hash fill: 2.2e9 draws from a generator would take minutes.
  auto* xs = static_cast<vconv::BFloat16*>(x.storage());
  const int64_t nx = static_cast<int64_t>(x.storage_bytes() / 2);
#pragma omp parallel for
  for (int64_t i = 0; i < nx; ++i) {
    uint64_t h = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    xs[i] = vconv::from_float<vconv::BFloat16>(static_cast<float>(h % 2001) / 1000.0f - 1.0f);
  }
  std::mt19937_64 rng(35);
  w.fill_uniform(rng);
  y.fill_nan();
  vconv::testing::DeviceCopy dx(x, kGpu), dw(w, kGpu), dy(y, kGpu);
  for (const auto& algo : cuda_algorithms(p)) {
    vconv::Options o;
    o.algorithm = algo;
    vconv::conv(dx.view(), dw.view(), dy.view(), p.params(), o);
    dy.download();
    // Sampled output positions against a double-precision sum through the index map.
    vconv::DimMap dim[3];
    for (int i = 0; i < 3; ++i)
      dim[i] = {p.in[i], p.stride[i], p.pad_lo[i], p.kdil[i], p.idil[i], p.mode[i]};
    double err2 = 0, ref2 = 0;
    std::uniform_int_distribution<int64_t> pick(0, y.numel() - 1);
    for (int s = 0; s < 2000; ++s) {
      const int64_t idx = pick(rng);
      const int64_t o = idx % p.o, ow = idx / p.o % p.out[2],
                    oh = idx / (p.o * p.out[2]) % p.out[1], od = idx / (p.o * p.out[2] * p.out[1]);
      double acc = 0;
      for (int64_t kd = 0; kd < 3; ++kd)
        for (int64_t kh = 0; kh < 3; ++kh)
          for (int64_t kw = 0; kw < 3; ++kw) {
            const int64_t id = vconv::source_index(dim[0], od, kd),
                          ih = vconv::source_index(dim[1], oh, kh),
                          iw = vconv::source_index(dim[2], ow, kw);
            if (id < 0 || ih < 0 || iw < 0) continue;
            const int64_t base = ((id * p.in[1] + ih) * p.in[2] + iw) * p.c;
            for (int64_t c = 0; c < p.c; ++c)
              acc += double(vconv::to_float(xs[base + c])) *
                     w.get((((o * 3 + kd) * 3 + kh) * 3 + kw) * p.c + c);
          }
      const double got = y.get(idx);
      err2 += (got - acc) * (got - acc);
      ref2 += acc * acc;
    }
    EXPECT_LE(std::sqrt(err2 / ref2), 1e-2) << algo;
  }
}
#endif

// Issue 13's any input layout on the GPU: an input stored channels-first and a weight stored
// [KD, KH, KW, C, O], viewed channels-last, give every CUDA algorithm's contiguous result (the
// staging copy's gather kernel), under accumulate and the epilogue too.
TEST(CudaSmall, ChannelsFirstInputMatchesContiguous) {
  SKIP_WITHOUT_GPU();
  const int64_t n = 2, d = 4, h = 6, w = 7, c = 8, o = 16, k = 3;
  std::mt19937_64 rng(13);
  HostTensor x(DType::f32, {n, d, h, w, c}), weight(DType::f32, {o, k, k, k, c}),
      x_cf(DType::f32, {n, c, d, h, w}), weight_io(DType::f32, {k, k, k, c, o}),
      bias(DType::f32, {o}), initial(DType::f32, {n, d, h, w, o}),
      expected(DType::f32, {n, d, h, w, o}), got(DType::f32, {n, d, h, w, o});
  x.fill_uniform(rng);
  weight.fill_uniform(rng);
  bias.fill_uniform(rng);
  initial.fill_uniform(rng);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t ci = i % c, s = i / c % (d * h * w), b = i / (c * d * h * w);
    x_cf.set((b * c + ci) * d * h * w + s, x.get(i));
  }
  for (int64_t i = 0; i < weight.numel(); ++i) {
    const int64_t ci = i % c, tap = i / c % (k * k * k), oi = i / (c * k * k * k);
    weight_io.set((tap * c + ci) * o + oi, weight.get(i));
  }
  vconv::testing::DeviceCopy dx(x, kGpu), dw(weight, kGpu), dx_cf(x_cf, kGpu),
      dw_io(weight_io, kGpu), db(bias, kGpu), dy_expected(expected, kGpu), dy(got, kGpu);
  for (auto* t : {&dx, &dw, &dx_cf, &dw_io, &db}) t->upload();
  vconv::TensorView strided_x = dx_cf.view(), strided_w = dw_io.view();
  strided_x.shape = {n, d, h, w, c};
  strided_x.strides = {c * d * h * w, h * w, w, 1, d * h * w};
  strided_w.shape = {o, k, k, k, c};
  strided_w.strides = {1, k * k * c * o, k * c * o, c * o, o};
  vconv::ConvParams params;
  params.padding_lo = params.padding_hi = {1, 1, 1};
  const Problem p = vconv::make_problem(x.shape(), weight.shape(), params);
  std::vector<std::string> algorithms = cuda_algorithms(p);
  algorithms.push_back("");  // the planner's choice
  for (const std::string& algorithm : algorithms)
    for (bool fused : {false, true}) {
      SCOPED_TRACE(algorithm + (fused ? " accumulate + bias + silu" : ""));
      vconv::Options options;
      options.algorithm = algorithm;
      if (fused) {
        options.accumulate = true;
        options.epilogue.bias = db.view();
        options.epilogue.activation = vconv::Activation::silu;
      }
      expected.copy_from(initial);
      got.copy_from(initial);
      dy_expected.upload();
      dy.upload();
      vconv::conv(dx.view(), dw.view(), dy_expected.view(), params, options);
      vconv::conv(strided_x, strided_w, dy.view(), params, options);
      dy_expected.download();
      dy.download();
      const auto e = vconv::testing::compare(got, expected);
      EXPECT_TRUE(e.within(1e-5)) << e.to_string();
      if (!algorithm.empty())
        EXPECT_NE(vconv::plan_conv(strided_x, strided_w, params, options).staging, "");
    }
}

// The cost model's calibration (cuda/cost_model.h) where it decides between kernels measured far
// apart: a time conv (3x1x1) on the warp-specialized kernel, which ran Wan's 384->768 time conv
// in half the multistage wgmma kernel's time on an H200 (docs/PERFORMANCE.md, 2026-12-04), with A
// by the copy engine where it reads through zero padding alone (1.02-1.10x faster there,
// 2026-12-05) and gathered where the pad mode is replicate; fp32 as TF32 the same way.
TEST(CudaSmall, PlannerTakesTheWarpSpecializedKernels) {
  SKIP_WITHOUT_GPU();
  struct Case {
    const char* problem;
    vconv::Fp32Math math;
    const char* expected;
  };
  // fp32 as TF32 on the wgmma kernels too (im2col where the copy engine reads the input, else
  // ws: 1.3-1.9x and 2x the mma.sync kernel's speed on the H100); exact fp32 on mma.sync.
  const Case cases[] = {{"bf16 n=1 in=6x120x208 c=384 o=768 k=3x1x1 p=2:0x0x0",
                         vconv::Fp32Math::exact, "cuda_implicit_gemm_sm90_im2col"},
                        {"bf16 n=1 in=6x120x208 c=384 o=768 k=3x1x1 p=2:0x0x0 pm=replicate",
                         vconv::Fp32Math::exact, "cuda_implicit_gemm_sm90_ws"},
                        {"f32 n=1 in=4x60x104 c=384 o=384 k=3x3x3 p=2:0x1x1", vconv::Fp32Math::tf32,
                         "cuda_implicit_gemm_sm90_im2col"},
                        {"f32 n=1 in=4x60x104 c=384 o=384 k=3x3x3 p=2:0x1x1 pm=replicate",
                         vconv::Fp32Math::tf32, "cuda_implicit_gemm_sm90_ws"},
                        {"f32 n=1 in=4x60x104 c=384 o=384 k=3x3x3 p=2:0x1x1",
                         vconv::Fp32Math::exact, "cuda_implicit_gemm"}};
  int checked = 0;
  std::string not_here;
  for (const Case& c : cases) {
    const Problem p = vconv::parse_problem(c.problem);
    vconv::Options o;
    o.fp32_math = c.math;
    bool listed = false, runs = false;
    for (const auto& candidate : vconv::conv_candidates(p, kGpu, o))
      if (candidate.name == c.expected) listed = true, runs = candidate.valid;
    ASSERT_TRUE(listed) << c.expected << " is not an algorithm";
    if (!runs) {
      not_here += std::string(" ") + c.expected;
      continue;
    }
    const vconv::Plan plan = vconv::plan_conv(p, kGpu, o);
    EXPECT_EQ(plan.algorithm, c.expected) << plan.to_string();
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "cannot run here:" << not_here;
}

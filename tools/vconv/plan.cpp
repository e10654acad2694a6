// vconv plan: prints the plan for one problem and why.
#include <iostream>
#include <sstream>

#include "commands.h"
#include "vconv/conv.h"
#include "vconv/device.h"
#include "vconv/error.h"

namespace vconv::cli {
namespace {

std::vector<int64_t> int_list(const std::string& s, const char* arg) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t used = 0;
      v.push_back(std::stoll(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      throw Error(std::string(arg) + ": '" + part + "' in '" + s +
                  "' is not an integer; expected comma-separated integers");
    }
  }
  return v;
}

struct PlanArgs {
  std::string problem, input, weight, stride, padding, dilation, input_dilation, pad_mode, upsample,
      depth_to_space, input_strides, weight_strides;
  std::string dtype = "f32", device = "cpu", fp32_math = "exact";
  int64_t groups = 1;
  bool flip = false, causal_upsample = false;
};

Problem problem_from(const PlanArgs& a) {
  if (!a.problem.empty()) return parse_problem(a.problem);
  if (a.input.empty() || a.weight.empty())
    throw Error("plan: give --problem LINE, or --input N,T,H,W,C and --weight O,KT,KH,KW,C");
  ConvParams p;
  p.groups = a.groups;
  p.flip = a.flip;
  p.causal_upsample = a.causal_upsample;
  if (!a.stride.empty()) p.stride = int_list(a.stride, "--stride");
  if (!a.dilation.empty()) p.kernel_dilation = int_list(a.dilation, "--dilation");
  if (!a.input_dilation.empty()) p.input_dilation = int_list(a.input_dilation, "--input-dilation");
  if (!a.upsample.empty()) p.upsample = int_list(a.upsample, "--upsample");
  if (!a.depth_to_space.empty()) p.depth_to_space = int_list(a.depth_to_space, "--depth-to-space");
  std::stringstream ss(a.padding);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const size_t colon = part.find(':');
    const std::string lo = part.substr(0, colon);
    const std::string hi = colon == std::string::npos ? lo : part.substr(colon + 1);
    p.padding_lo.push_back(int_list(lo, "--padding")[0]);
    p.padding_hi.push_back(int_list(hi, "--padding")[0]);
  }
  std::stringstream ms(a.pad_mode);
  while (std::getline(ms, part, ',')) {
    if (part == "zeros")
      p.pad_mode.push_back(PadMode::zeros);
    else if (part == "replicate")
      p.pad_mode.push_back(PadMode::replicate);
    else if (part == "reflect")
      p.pad_mode.push_back(PadMode::reflect);
    else
      throw Error("--pad-mode: '" + part + "', expected zeros, replicate or reflect");
  }
  return make_problem(int_list(a.input, "--input"), int_list(a.weight, "--weight"), p,
                      parse_dtype(a.dtype, "--dtype"));
}

}  // namespace

void add_plan(CLI::App& app) {
  auto args = std::make_shared<PlanArgs>();
  auto* cmd = app.add_subcommand("plan", "print the algorithm the planner picks, and why");
  cmd->add_option("--problem", args->problem, "the whole problem in vconv notation");
  cmd->add_option("--input", args->input, "input shape N,T,H,W,C (or N,H,W,C / N,W,C)");
  cmd->add_option("--weight", args->weight, "weight shape O,KT,KH,KW,C/groups");
  cmd->add_option("--stride", args->stride, "strides, one per spatial dim or one for all");
  cmd->add_option("--padding", args->padding, "padding per spatial dim, each P or LO:HI");
  cmd->add_option("--pad-mode", args->pad_mode, "zeros|replicate|reflect, per dim or one");
  cmd->add_option("--dilation", args->dilation, "kernel dilation");
  cmd->add_option("--input-dilation", args->input_dilation, "input dilation");
  cmd->add_option("--upsample", args->upsample, "nearest upsampling factors of the input");
  cmd->add_flag("--causal-upsample", args->causal_upsample,
                "upsample the first dimension's frame 0 once (causal video VAEs)");
  cmd->add_option("--depth-to-space", args->depth_to_space, "depth-to-space factors of the output");
  cmd->add_option("--groups", args->groups, "groups");
  cmd->add_flag("--flip", args->flip, "mirror the kernel (true convolution)");
  cmd->add_option("--input-strides", args->input_strides,
                  "the input's strides in elements (default contiguous): the plan says when a "
                  "staging copy is made");
  cmd->add_option("--weight-strides", args->weight_strides,
                  "the weight's strides in elements (default contiguous)");
  cmd->add_option("--dtype", args->dtype, "f32|f16|bf16");
  cmd->add_option("--device", args->device, "cpu|cuda");
  cmd->add_option("--fp32-math", args->fp32_math,
                  "exact|tf32: the fp32 error accepted (TF32 on GPUs, Winograd F(4x4) on the CPU)");
  cmd->callback([args] {
    const Problem p = problem_from(*args);
    Device dev = Device::cpu();
    if (args->device == "cuda")
      dev = Device::cuda(0);
    else if (args->device != "cpu")
      throw Error("--device: '" + args->device + "', expected cpu or cuda");
    Options options;
    options.fp32_math = parse_fp32_math(args->fp32_math, "--fp32-math");
    // Planning reads no tensor: any non-null address stands for each, with the strides that
    // decide whether a staging copy is made (Plan::staging).
    static char present;
    const auto strides = [](const std::string& s, const char* arg) {
      return s.empty() ? std::vector<int64_t>{} : int_list(s, arg);
    };
    const TensorView input(&present, p.dtype, p.input_shape(),
                           strides(args->input_strides, "--input-strides"), dev),
        weight(&present, p.dtype, p.weight_shape(),
               strides(args->weight_strides, "--weight-strides"), dev);
    std::cout << "problem: " << to_string(p) << "\n"
              << plan_conv(input, weight, p.params(), options).to_string();
  });
}

}  // namespace vconv::cli

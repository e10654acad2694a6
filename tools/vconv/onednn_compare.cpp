#include "onednn_compare.h"

#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "common/device_copy.h"

namespace vconv::cli {

std::string onednn_why_not(const Problem& p) {
  if (p.dtype != DType::f32) return "compared in f32 only";
  if (p.groups != 1 || p.flip) return "compared without groups or flip";
  for (int i = 0; i < 3; ++i) {
    if (p.idil[i] != 1) return "compared without input dilation";
    if (p.mode[i] != PadMode::zeros && (p.pad_lo[i] > 0 || p.pad_hi[i] > 0))
      return "oneDNN pads with zeros only";
    if (p.pad_lo[i] < 0 || p.pad_hi[i] < 0) return "compared without negative padding";
  }
  return {};
}

double onednn_conv_ms(const Problem& p, testing::HostTensor& x, testing::HostTensor& w,
                      testing::HostTensor& y) {
  using namespace dnnl;
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  const memory::dims src{p.n, p.c, p.in[0], p.in[1], p.in[2]};
  const memory::dims wei{p.o, p.c, p.k[0], p.k[1], p.k[2]};
  const memory::dims dst{p.n, p.o, p.out[0], p.out[1], p.out[2]};
  const memory::dims strides{p.stride[0], p.stride[1], p.stride[2]};
  const memory::dims dil{p.kdil[0] - 1, p.kdil[1] - 1, p.kdil[2] - 1};  // oneDNN counts from 0
  const memory::dims lo{p.pad_lo[0], p.pad_lo[1], p.pad_lo[2]};
  const memory::dims hi{p.pad_hi[0], p.pad_hi[1], p.pad_hi[2]};
  const memory::desc src_md(src, f32, tag::ndhwc), dst_md(dst, f32, tag::ndhwc);
  const memory::desc any_wei(wei, f32, tag::any);
  // oneDNN 3.x: the primitive descriptor takes the engine and the descriptors directly (2.x's
  // convolution_forward::desc is gone).
  const convolution_forward::primitive_desc pd(eng, prop_kind::forward_inference,
                                               algorithm::convolution_direct, src_md, any_wei,
                                               dst_md, strides, dil, lo, hi);
  memory src_mem(src_md, eng, x.view().data), dst_mem(dst_md, eng, y.view().data);
  memory user_w({wei, f32, tag::odhwi}, eng, w.view().data);
  memory w_mem = user_w;
  if (pd.weights_desc() != user_w.get_desc()) {  // oneDNN's blocked layout, prepared once
    w_mem = memory(pd.weights_desc(), eng);
    reorder(user_w, w_mem).execute(s, user_w, w_mem);
  }
  convolution_forward prim(pd);
  auto run = [&] {
    prim.execute(s, {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_DST, dst_mem}});
    s.wait();
  };
  return testing::median_ms(Device::cpu(), run);
}

}  // namespace vconv::cli

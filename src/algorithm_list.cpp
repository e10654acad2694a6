// The ordered list of algorithms the planner chooses from, in the manner of oneDNN's
// implementation lists: most specialised first, the reference last as the fallback of last resort.
// Adding an algorithm means adding it here; the planner itself does not change.
#include "core/algorithm.h"
#include "cpu/conv_gemm.h"
#include "cpu/conv_reference.h"

namespace vconv {

const std::vector<const Algorithm*>& algorithms() {
  static const cpu::GemmAlgorithm cpu_gemm;
  static const cpu::ReferenceAlgorithm reference;
  static const std::vector<const Algorithm*> list{&cpu_gemm, &reference};
  return list;
}

}  // namespace vconv

#pragma once
// The input prologue (Options::prologue) as the reference computes it: the whole transformed
// input, written once, which the reference's conv then reads through its index map.
#include "core/algorithm.h"

namespace vconv::cpu {

// out = act(x * s[n, pixel] * a[n, c] + b[n, c]) of a validated prologue (conv.h) over `input`,
// statistics and transform in double, rounded once to `dtype`; `out` is contiguous
// [N, D, H, W, C] of the input's shape.
void prologue_reference(const Prologue& prologue, const View5& input, DType dtype, void* out);

}  // namespace vconv::cpu

#pragma once
// Element-wise exponential over whole buffers, written so the compiler vectorises it (no library call per
// element). float: Cody–Waite range reduction and a degree-6 polynomial, within 2 ulp of the correctly
// rounded eˣ for normal results (tests/tensor/test_vmath.cpp); results below the normal range are
// approximated gradually, +∞/−∞/NaN map to +∞/0/NaN. Each element is computed alone, by the same operations
// in any position of the buffer: the bits depend only on the value. double: std::exp per element.
#include <cstdint>

#include "tensor/real.hpp"

namespace bilevel {

// y[i] = exp(x[i]) for i < n; y may equal x.
void exp_into(const real* x, real* y, int64_t n);

}  // namespace bilevel

#pragma once
// The matrix product of tensor.hpp's gemm() on raw row-major storage.
#include <cstdint>

#include "tensor/real.hpp"

namespace bilevel {

// C (m×n, row-major, leading dimension n) = op(A)·op(B), with lda, ldb the row strides of A and B as stored.
// For operands that are not 2-D tensors (a convolution's 4-D weights, images read as (pixels, channels)):
// gemm() is this on its operands' storage, so both give the same bits for the same shapes, and both count
// into GemmCounter.
void gemm_into(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, const real* a, int64_t lda,
               const real* b, int64_t ldb, real* c);

}  // namespace bilevel

#pragma once
// Own kernels for small and skinny matrix products.
//
// OpenBLAS is fast on large products, but on the tiny ones that dominate MAML-style workloads
// (10×40·40×40) its per-call overhead rivals the arithmetic, and its pthread build takes a global
// lock around buffer allocation, so two threads running such products at once mostly wait for
// each other (experiments/benchmarks/bench_blas_threads.cpp). On skinny products (n = 10 classes)
// it re-packs the large operand at every call. These kernels need no lock and no allocation
// beyond a per-thread scratch buffer, and sum every output element in a fixed order.
#include <cstdint>
#include <string>

#include "tensor/real.hpp"

namespace bilevel::gemm_detail {

// Whether the own kernels handle an m×n result with inner dimension k (small or skinny).
bool use_small_kernels(int64_t m, int64_t n, int64_t k);

// C (m×n, row-major, leading dimension n) = op(A)·op(B); lda, ldb are the row strides of A and B
// as stored. Results depend only on the shapes and values (not on the thread or the CPU's vector
// width). `kernel` overrides the choice (benchmarks and tests; see small_kernel_name).
void gemm_small(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, const real* a, int64_t lda,
                const real* b, int64_t ldb, real* c, const char* kernel = nullptr);

// gemm_small on the calling thread only, never split: for callers that run their own parallel blocks (the
// fused linear cross-entropy of lib/autodiff). Same bits as gemm_small.
void gemm_small_serial(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, const real* a, int64_t lda,
                       const real* b, int64_t ldb, real* c);

// Products of more than about `split grain` multiply-adds are split into blocks of output rows that run in
// parallel on the oneTBB threads. The blocks depend only on the shape and the grain, and every output
// element is summed the same way in any block, so the bits never depend on the thread count (nor on the
// grain). Default 2¹⁸ multiply-adds; tests lower it to split small products.
void set_split_grain(int64_t multiply_adds);
int64_t split_grain_value();

// Which kernel gemm_small picks (for tests and benchmarks): "rows", "rows-transposed" or "dots".
const char* small_kernel_name(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b);

// Caps the instruction set of the kernels ("generic", "avx2" or "avx512", the default) for tests that
// check all builds give the same bits; returns whether the CPU has the one asked for.
bool limit_kernel_isa(const std::string& isa);
// The instruction set the kernels run with now.
const char* kernel_isa();
// Whether that is AVX2 or wider (vmath's loops pick their build by it, so a cap applies to them too).
bool kernels_have_avx2();

}  // namespace bilevel::gemm_detail

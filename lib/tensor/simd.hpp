#pragma once
// Element-wise loops compiled for the baseline ISA and for AVX2, run in the one the matrix kernels use
// (gemm_detail::kernels_have_avx2: tests cap it with limit_kernel_isa). The body is a lambda marked
// BILEVEL_SIMD_BODY (always inlined), so the compiler builds it once into each of two functions; neither
// enables FMA (target("avx2") does not), and vectorising loops over independent elements or channels keeps
// each element's operations and their order, so both give the same bits — only wider registers.
//
//   simd_dispatch([&]() BILEVEL_SIMD_BODY { for (...) ... });
#include "tensor/gemm_small.hpp"

#define BILEVEL_SIMD_BODY __attribute__((always_inline))

namespace bilevel {
namespace simd_detail {
template <class F>
void run_baseline(const F& f) {
  f();
}
#if defined(__x86_64__) || defined(__i386__)
template <class F>
[[gnu::target("avx2")]] void run_avx2(const F& f) {
  f();
}
#endif
}  // namespace simd_detail

template <class F>
void simd_dispatch(const F& f) {
#if defined(__x86_64__) || defined(__i386__)
  if (gemm_detail::kernels_have_avx2()) {
    simd_detail::run_avx2(f);
    return;
  }
#endif
  simd_detail::run_baseline(f);
}

}  // namespace bilevel

#include "tensor/vmath.hpp"

#include <cmath>
#include <cstring>

#include "tensor/gemm_small.hpp"

// exp_vec returns a 32-byte vector: GCC notes that its ABI differs with and without AVX. It is always inlined,
// never called across the two.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace bilevel {

namespace {

// eˣ on a vector of W floats (GCC vector extensions: element-wise semantics, so one element gives the same
// bits alone or in any lane); branch-free. Compiled with -ffp-contract=off (CMake): no fused multiply-add,
// the same bits with any instruction set.
constexpr int W = 8;
typedef float vf __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));

[[gnu::always_inline]] inline vf exp_vec(vf x) {
  // Clamp to where 2ⁿ·p spans every float from underflow to overflow (n ∈ [−150, 129]); NaN passes (both
  // comparisons are false) and propagates through the polynomial.
  const vf lo = vf{} - 104.0f, hi = vf{} + 89.0f;
  vf xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  // n = round(x / ln 2) by the 1.5·2²³ trick (round to nearest in the default rounding mode).
  const vf t = xc * 1.44269504088896341f + 12582912.0f;
  const vf n = t - 12582912.0f;
  // r = x − n ln 2 in two parts (ln 2 = 0.693359375 − 2.12194440e−4, the first exact in 9 bits).
  vf r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  // eʳ on |r| ≤ ln(2)/2: 1 + r + r²·P(r) (Cephes' expf coefficients).
  vf p = vf{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // 2ⁿ as two powers of two in the normal range: 2^(n₁)·2^(n − n₁), n₁ = ⌊n/2⌋. (NaN lanes: any n; p is NaN.)
  const vi ni = __builtin_convertvector(n, vi);
  const vi n1 = ni >> 1, n2 = ni - n1;
  const vf s1 = reinterpret_cast<vf>((n1 + 127) << 23), s2 = reinterpret_cast<vf>((n2 + 127) << 23);
  return p * s1 * s2;
}

// The loop over a buffer, inlined into a baseline (SSE2: two 16-byte halves per vector) and an AVX2 (one 32-byte
// register) function: the same element-wise operations, no FMA in either (target("avx2") does not enable it and
// the file is compiled with -ffp-contract=off), so the same bits; AVX2 does each vector in one instruction.
#ifndef BILEVEL_DOUBLE
[[gnu::always_inline]] inline void exp_loop(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    vf v;
    std::memcpy(&v, x + i, sizeof v);
    v = exp_vec(v);
    std::memcpy(y + i, &v, sizeof v);
  }
  if (i < n) {  // the tail in one padded vector: the same operations per element
    vf v = vf{};
    std::memcpy(&v, x + i, static_cast<size_t>(n - i) * sizeof(float));
    v = exp_vec(v);
    std::memcpy(y + i, &v, static_cast<size_t>(n - i) * sizeof(float));
  }
}
void exp_loop_baseline(const float* x, float* y, int64_t n) { exp_loop(x, y, n); }
#if defined(__x86_64__) || defined(__i386__)
[[gnu::target("avx2")]] void exp_loop_avx2(const float* x, float* y, int64_t n) { exp_loop(x, y, n); }
#endif
#endif

}  // namespace

void exp_into(const real* x, real* y, int64_t n) {
#ifdef BILEVEL_DOUBLE
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
#else
#if defined(__x86_64__) || defined(__i386__)
  // The instruction set the matrix kernels run with (tests cap it with gemm_detail::limit_kernel_isa).
  if (gemm_detail::kernels_have_avx2()) {
    exp_loop_avx2(x, y, n);
    return;
  }
#endif
  exp_loop_baseline(x, y, n);
#endif
}

}  // namespace bilevel

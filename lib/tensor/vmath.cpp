#include "tensor/vmath.hpp"

#include <cmath>
#include <cstring>

namespace bilevel {

namespace {

// eˣ for one float; branch-free, so that a loop of it vectorises. Compiled with -ffp-contract=off (CMake):
// no fused multiply-add, the same bits with any instruction set.
inline float exp_one(float x) {
  // Clamp to where 2ⁿ·p spans every float from underflow to overflow (n ∈ [−150, 129]); NaN passes (both
  // comparisons are false) and propagates through the polynomial.
  float xc = x < -104.0f ? -104.0f : x;
  xc = xc > 89.0f ? 89.0f : xc;
  // n = round(x / ln 2) by the 1.5·2²³ trick (round to nearest in the default rounding mode).
  const float shifter = 12582912.0f;
  const float t = xc * 1.44269504088896341f + shifter;
  const float n = t - shifter;
  // r = x − n ln 2 in two parts (ln 2 = 0.693359375 − 2.12194440e−4, the first exact in 9 bits).
  float r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  // eʳ on |r| ≤ ln(2)/2: 1 + r + r²·P(r) (Cephes' expf coefficients).
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // 2ⁿ as two powers of two in the normal range: 2^(n₁)·2^(n − n₁), n₁ = ⌊n/2⌋.
  const auto ni = static_cast<int32_t>(n);
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, sizeof s1);
  std::memcpy(&s2, &b2, sizeof s2);
  return p * s1 * s2;
}

}  // namespace

void exp_into(const real* x, real* y, int64_t n) {
#ifdef BILEVEL_DOUBLE
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
#else
  for (int64_t i = 0; i < n; ++i) y[i] = exp_one(x[i]);
#endif
}

}  // namespace bilevel

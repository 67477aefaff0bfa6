// The vectorised exponential (tensor/vmath.hpp) against the correctly rounded eˣ (computed in double), its
// special values, and position independence (each element's bits depend on its value only).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "tensor/gemm_small.hpp"
#include "tensor/rng.hpp"
#include "tensor/vmath.hpp"

using namespace bilevel;

namespace {
// Distance in units in the last place between two finite reals of the same sign.
int64_t ulp_distance(real a, real b) {
  if (a == b) return 0;
  if constexpr (sizeof(real) == 4) {
    int32_t ia, ib;
    std::memcpy(&ia, &a, 4);
    std::memcpy(&ib, &b, 4);
    return std::abs(static_cast<int64_t>(ia) - static_cast<int64_t>(ib));
  } else {
    int64_t ia, ib;
    std::memcpy(&ia, &a, 8);
    std::memcpy(&ib, &b, 8);
    return ia > ib ? ia - ib : ib - ia;
  }
}
}  // namespace

TEST_CASE("exp_into: within 2 ulp of the correctly rounded exponential over the normal range") {
  std::vector<real> x;
  for (double v = -87.0; v <= 88.5; v += 0.0037) x.push_back(static_cast<real>(v));
  Rng rng(5);
  for (int i = 0; i < 20000; ++i) x.push_back(static_cast<real>(rng.uniform() * 40 - 20));
  for (real v : {real(0), real(-0.0), real(1e-8), real(-1e-8), real(0.5), real(-0.5), real(1), real(-1)}) x.push_back(v);
  std::vector<real> y(x.size());
  exp_into(x.data(), y.data(), static_cast<int64_t>(x.size()));
  int64_t worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const real want = static_cast<real>(std::exp(static_cast<double>(x[i])));
    if (want < std::numeric_limits<real>::min() || std::isinf(want)) continue;
    const int64_t d = ulp_distance(y[i], want);
    if (d > worst) worst = d;
    if (d > 2) FAIL_CHECK("exp(" << x[i] << ") = " << y[i] << ", correctly rounded " << want);
  }
  MESSAGE("worst error " << worst << " ulp");
  CHECK(worst <= 2);
}

TEST_CASE("exp_into: special values, underflow, in place, and bits independent of the position") {
  const real inf = std::numeric_limits<real>::infinity();
  std::vector<real> x = {inf, -inf, std::numeric_limits<real>::quiet_NaN(), real(-1000), real(1000), real(-95)};
  std::vector<real> y(x.size());
  exp_into(x.data(), y.data(), static_cast<int64_t>(x.size()));
  CHECK(y[0] == inf);
  CHECK(y[1] == 0);
  CHECK(std::isnan(y[2]));
  CHECK(y[3] == 0);
  CHECK(y[4] == inf);
  CHECK(y[5] >= 0);
  CHECK(y[5] < real(1e-30));
  // The same values at every offset of a buffer (vector body, scalar tail), and in place.
  Rng rng(9);
  std::vector<real> v(37);
  for (auto& e : v) e = static_cast<real>(rng.normal() * 5);
  std::vector<real> ref(v.size());
  for (size_t i = 0; i < v.size(); ++i) exp_into(&v[i], &ref[i], 1);
  for (size_t off = 0; off < 9; ++off) {
    std::vector<real> w(v.begin() + static_cast<std::ptrdiff_t>(off), v.end());
    exp_into(w.data(), w.data(), static_cast<int64_t>(w.size()));
    CHECK(std::memcmp(w.data(), ref.data() + off, w.size() * sizeof(real)) == 0);
  }
}

TEST_CASE("exp_into: the baseline and AVX2 builds give the same bits") {
  // Every float exponent and sign with random mantissas, the special values, and a tail of odd length.
  std::vector<real> x;
  Rng rng(11);
  for (int e = 0; e < 256; ++e)
    for (int k = 0; k < 64; ++k) {
      const auto mant = static_cast<uint32_t>(rng.next_u32() & 0x7fffffu);
      for (uint32_t sign : {0u, 1u}) {
        const uint32_t bits = (sign << 31) | (static_cast<uint32_t>(e) << 23) | mant;
        float f;
        std::memcpy(&f, &bits, 4);
        x.push_back(static_cast<real>(f));
      }
    }
  for (real v : {real(0), real(-0.0), std::numeric_limits<real>::infinity(), -std::numeric_limits<real>::infinity(),
                 std::numeric_limits<real>::quiet_NaN(), real(88.7), real(-103.9), real(1)})
    x.push_back(v);
  x.push_back(real(0.25));  // odd length: the padded tail runs in both
  std::vector<real> base(x.size()), best(x.size());
  const bool have_avx2 = gemm_detail::limit_kernel_isa("avx2");
  exp_into(x.data(), best.data(), static_cast<int64_t>(x.size()));
  gemm_detail::limit_kernel_isa("generic");
  exp_into(x.data(), base.data(), static_cast<int64_t>(x.size()));
  gemm_detail::limit_kernel_isa("avx512");  // back to the best the CPU has
  if (!have_avx2) return;  // nothing to compare on this CPU
  CHECK(std::memcmp(base.data(), best.data(), x.size() * sizeof(real)) == 0);
}

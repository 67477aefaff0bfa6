// Tests of lib/tensor/rng: streams are pure functions of (seed, indices), split is deterministic,
// and the distributions have the right moments. Statistical bounds are ±5 standard errors with fixed
// seeds, so the quick tests are deterministic and not flaky; the larger ones are labelled [slow].
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "base/errors.hpp"
#include "tensor/rng.hpp"

using namespace bilevel;

namespace {

std::vector<uint32_t> draw_u32(Rng r, int n) {
  std::vector<uint32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.next_u32();
  return v;
}

struct Moments {
  double mean = 0, var = 0;
};

template <class Draw>
Moments moments(int64_t n, Draw draw) {
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = draw();
    s += x;
    s2 += x * x;
  }
  Moments m;
  m.mean = s / static_cast<double>(n);
  m.var = s2 / static_cast<double>(n) - m.mean * m.mean;
  return m;
}

}  // namespace

TEST_CASE("mix64 is the splitmix64 finaliser (known values)") {
  CHECK(mix64(0) == 0xe220a8397b1dcdafull);
  CHECK(mix64(1) == 0x910a2dec89025cc1ull);
}

TEST_CASE("Rng streams are pure functions of (seed, indices)") {
  // Pinned first outputs: a change here silently changes every experiment's random numbers.
  // (The Philox4x32-10 block function itself matches the Random123 known-answer vectors.)
  const std::vector<uint32_t> pinned{0x3fa334f5u, 0x891f4c70u, 0x02bd5f2eu, 0x72223caeu, 0x156ecb4du, 0xac9a6aadu};
  CHECK(draw_u32(Rng(2024, {1, 2}), 6) == pinned);

  const std::vector<uint32_t> a = draw_u32(Rng(7, {3, 11}), 1000);
  CHECK(draw_u32(Rng(7, {3, 11}), 1000) == a);
  CHECK(draw_u32(Rng(7, std::vector<uint64_t>{3, 11}), 1000) == a);  // both constructors agree
  // Different seed, different index, swapped indices, an extra index: different streams.
  CHECK(draw_u32(Rng(8, {3, 11}), 1000) != a);
  CHECK(draw_u32(Rng(7, {3, 12}), 1000) != a);
  CHECK(draw_u32(Rng(7, {11, 3}), 1000) != a);
  CHECK(draw_u32(Rng(7, {3, 11, 0}), 1000) != a);
  CHECK(draw_u32(Rng(7, {3}), 1000) != draw_u32(Rng(7), 1000));
  // Draw order within a stream: interleaving two streams does not change either.
  Rng p(7, {3, 11}), q(7, {4});
  std::vector<uint32_t> interleaved;
  for (int i = 0; i < 1000; ++i) {
    interleaved.push_back(p.next_u32());
    (void)q.next_u32();
  }
  CHECK(interleaved == a);
  // A copy continues from the same position.
  Rng r(9);
  for (int i = 0; i < 5; ++i) r.next_u32();
  Rng copy = r;
  CHECK(draw_u32(copy, 50) == draw_u32(r, 50));
}

TEST_CASE("Rng::split is deterministic and independent of how much the parent drew") {
  Rng parent(2024);
  const std::vector<uint32_t> pinned{0xfb579553u, 0x95536cb0u, 0x3f21b241u, 0x2e04ba73u};
  CHECK(draw_u32(parent.split(5), 4) == pinned);
  const std::vector<uint32_t> c5 = draw_u32(parent.split(5), 500);
  for (int i = 0; i < 37; ++i) parent.next_u32();
  (void)parent.normal();  // leaves a cached Box–Muller spare in the parent
  CHECK(draw_u32(parent.split(5), 500) == c5);
  Rng child = parent.split(5);
  Rng fresh = Rng(2024).split(5);
  CHECK(child.normal() == fresh.normal());  // the parent's spare normal is not inherited
  CHECK(draw_u32(parent.split(6), 500) != c5);
  CHECK(draw_u32(Rng(2025).split(5), 500) != c5);
  CHECK(draw_u32(Rng(2024), 500) != c5);  // child differs from its parent
  CHECK(draw_u32(Rng(2024).split(5).split(0), 500) != c5);
  CHECK(draw_u32(Rng(2024).split(5).split(0), 500) == draw_u32(Rng(2024).split(5).split(0), 500));
}

TEST_CASE("uniform: range and moments") {
  Rng r(1);
  const int64_t n = 100000;
  double lo = 1, hi = 0;
  const Moments m = moments(n, [&] {
    const double u = r.uniform();
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    return u;
  });
  CHECK(lo >= 0.0);
  CHECK(hi < 1.0);
  CHECK(hi > 0.999);
  CHECK(lo < 0.001);
  // Var(U) = 1/12; sd of the sample variance ≈ sqrt((1/80 − 1/144)/n).
  CHECK(std::abs(m.mean - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
  CHECK(std::abs(m.var - 1.0 / 12) < 5 * std::sqrt((1.0 / 80 - 1.0 / 144) / n));
  int64_t outside = 0;
  const Moments m2 = moments(n, [&] {
    const double u = r.uniform(-3.0, 5.0);
    outside += u < -3.0 || u >= 5.0;
    return u;
  });
  CHECK(outside == 0);
  CHECK(std::abs(m2.mean - 1.0) < 5 * 8 * std::sqrt(1.0 / 12 / n));
  CHECK(std::abs(m2.var - 64.0 / 12) < 5 * 64 * std::sqrt((1.0 / 80 - 1.0 / 144) / n));
}

TEST_CASE("normal: moments and the one-sigma mass") {
  Rng r(2);
  const int64_t n = 100000;
  int64_t within = 0;
  const Moments m = moments(n, [&] {
    const double z = r.normal();
    within += std::abs(z) < 1.0;
    return z;
  });
  CHECK(std::abs(m.mean) < 5 / std::sqrt(static_cast<double>(n)));
  CHECK(std::abs(m.var - 1.0) < 5 * std::sqrt(2.0 / n));
  const double p1 = 0.6826894921370859;
  CHECK(std::abs(static_cast<double>(within) / n - p1) < 5 * std::sqrt(p1 * (1 - p1) / n));
  // fill_normal / normal_tensor with mean and stddev.
  const Tensor t = r.normal_tensor(Shape{200, 250}, 3.0, 2.0);
  CHECK(t.shape() == Shape({200, 250}));
  const Moments mt = moments(t.numel(), [&, i = int64_t{0}]() mutable { return static_cast<double>(t[i++]); });
  CHECK(std::abs(mt.mean - 3.0) < 5 * 2.0 / std::sqrt(50000.0));
  CHECK(std::abs(mt.var - 4.0) < 5 * 4.0 * std::sqrt(2.0 / 50000));
  const Tensor u = r.uniform_tensor(Shape{1000}, 2.0, 2.5);
  CHECK(*std::min_element(u.data(), u.data() + 1000) >= real(2.0));
  CHECK(*std::max_element(u.data(), u.data() + 1000) <= real(2.5));
}

TEST_CASE("bernoulli: rate and the edge probabilities") {
  Rng r(3);
  const int64_t n = 100000;
  for (double p : {0.3, 0.01, 0.9}) {
    INFO("p = " << p);
    int64_t k = 0;
    for (int64_t i = 0; i < n; ++i) k += r.bernoulli(p);
    CHECK(std::abs(static_cast<double>(k) / n - p) < 5 * std::sqrt(p * (1 - p) / n));
  }
  bool any_true = false, all_true = true;
  for (int i = 0; i < 10000; ++i) {
    any_true |= r.bernoulli(0.0);
    all_true &= r.bernoulli(1.0);
  }
  CHECK_FALSE(any_true);
  CHECK(all_true);
}

TEST_CASE("randint: range, uniformity (chi-square) and bad input; permutation") {
  Rng r(4);
  const int64_t bins = 7, n = 70000;
  std::vector<int64_t> count(bins, 0);
  int64_t outside = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = r.randint(bins);
    if (k < 0 || k >= bins) {
      ++outside;
      continue;
    }
    ++count[static_cast<size_t>(k)];
  }
  CHECK(outside == 0);
  double chi2 = 0;
  const double expected = static_cast<double>(n) / bins;
  for (int64_t c : count) chi2 += (c - expected) * (c - expected) / expected;
  CHECK(chi2 < 33.0);  // χ²₆: P(> 33) ≈ 1e-5
  CHECK(r.randint(1) == 0);
  CHECK_THROWS_AS(r.randint(0), bilevel::internal_error);
  CHECK_THROWS_AS(r.randint(-3), bilevel::internal_error);

  std::vector<int64_t> p = r.permutation(50);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(50);
  std::iota(iota.begin(), iota.end(), 0);
  CHECK(sorted == iota);
  CHECK(p != iota);
  CHECK(Rng(5).permutation(50) == Rng(5).permutation(50));
  CHECK(Rng(5).permutation(50) != Rng(6).permutation(50));
  CHECK(r.permutation(0).empty());
  CHECK(r.permutation(1) == std::vector<int64_t>{0});
}

TEST_CASE("[slow] Rng: bit balance, stream and lag correlations, permutation positions") {
  const int64_t n = 1 << 21;
  Rng r(10);
  std::vector<int64_t> ones(32, 0);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t x = r.next_u32();
    for (int b = 0; b < 32; ++b) ones[static_cast<size_t>(b)] += (x >> b) & 1u;
  }
  for (int b = 0; b < 32; ++b) {
    INFO("bit " << b);
    CHECK(std::abs(static_cast<double>(ones[static_cast<size_t>(b)]) / n - 0.5) < 5 * 0.5 / std::sqrt(n));
  }
  // Neighbouring streams (task i and i + 1) and consecutive normals are uncorrelated.
  const int64_t m = 1 << 18;
  Rng s0(10, {0, 41}), s1(10, {0, 42}), c0 = Rng(10).split(1), c1 = Rng(10).split(2);
  double xy = 0, cc = 0, lag = 0, prev = 0;
  for (int64_t i = 0; i < m; ++i) {
    xy += s0.normal() * s1.normal();
    cc += c0.normal() * c1.normal();
    const double z = r.normal();
    lag += z * prev;
    prev = z;
  }
  const double bound = 5 / std::sqrt(static_cast<double>(m));
  CHECK(std::abs(xy / m) < bound);
  CHECK(std::abs(cc / m) < bound);
  CHECK(std::abs(lag / m) < bound);
  // Fisher–Yates: every element lands in every position with probability 1/5.
  const int64_t trials = 100000;
  std::vector<int64_t> pos(5, 0);
  for (int64_t t = 0; t < trials; ++t) {
    const auto p = r.permutation(5);
    ++pos[static_cast<size_t>(std::find(p.begin(), p.end(), 0) - p.begin())];
  }
  for (int64_t c : pos) CHECK(std::abs(static_cast<double>(c) / trials - 0.2) < 5 * std::sqrt(0.16 / trials));
}

// Tests of lib/tensor/tensor: Shape, Tensor value semantics, the flat vector algebra, gemm against a
// naive triple loop for every transpose flag, and MemoryMeter byte accounting.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/errors.hpp"
#include "tensor/rng.hpp"
#include "tensor/tensor.hpp"

using namespace bilevel;

namespace {
constexpr int64_t bytes_of(int64_t n) { return n * static_cast<int64_t>(sizeof(real)); }

std::string invalid_argument_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const bilevel::internal_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("Shape: numel, str, equality, limits") {
  CHECK(Shape{}.numel() == 1);
  CHECK(Shape{}.rank == 0);
  CHECK(Shape{2, 3, 4}.numel() == 24);
  CHECK(Shape{2, 0, 4}.numel() == 0);
  CHECK(Shape{2, 3}.str() == "(2, 3)");
  CHECK(Shape{4}.str() == "(4,)");
  CHECK(Shape{}.str() == "()");
  CHECK(Shape{2, 3} == Shape(std::vector<int64_t>{2, 3}));
  CHECK(Shape{2, 3} != Shape{3, 2});
  CHECK(Shape{6} != Shape{6, 1});
  CHECK(Shape{1} != Shape{});
  CHECK(Shape{5, 1, 2}.to_vector() == std::vector<int64_t>{5, 1, 2});
  Shape s{2, 3};
  s[1] = 7;
  CHECK(s.numel() == 14);
  CHECK_THROWS_AS(Shape({1, 2, 3, 4, 5}), bilevel::internal_error);
  CHECK_THROWS_AS(Shape({2, -1}), bilevel::internal_error);
}

TEST_CASE("Tensor: construction, element access, value semantics") {
  Tensor a(Shape{2, 3}, real(1.5));
  CHECK(a.numel() == 6);
  CHECK(a.rank() == 2);
  CHECK(a.dim(1) == 3);
  for (int64_t i = 0; i < 6; ++i) CHECK(a[i] == real(1.5));
  CHECK(Tensor::zeros(Shape{3})[2] == 0);
  CHECK(Tensor::zeros_like(a).shape() == a.shape());
  CHECK(Tensor::scalar(4).item() == 4);
  CHECK(Tensor::scalar(4).shape() == Shape{});
  const Tensor v = Tensor::vector({1, 2, 3});
  CHECK(v.shape() == Shape{3});
  CHECK(v.to_vector() == std::vector<real>{1, 2, 3});
  CHECK_THROWS_AS(v.item(), bilevel::internal_error);
  const std::string m = invalid_argument_message([] { Tensor(Shape{2, 2}, std::vector<real>{1, 2, 3}); });
  CHECK(m.find("(2, 2)") != std::string::npos);

  // Copies are deep; moves leave the source empty.
  Tensor b = a;
  b[0] = 9;
  CHECK(a[0] == real(1.5));
  Tensor c(Shape{5});
  c = a;  // copy-assign across sizes
  CHECK(c.shape() == a.shape());
  CHECK(c[5] == real(1.5));
  c = c;  // self-assignment keeps the contents
  CHECK(c[5] == real(1.5));
  Tensor d = std::move(b);
  CHECK(d[0] == 9);
  CHECK(b.numel() == 0);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  CHECK(b.data() == nullptr);

  // reshaped is a copy with the same contents.
  Tensor r = a.reshaped(Shape{3, 2});
  CHECK(r.shape() == Shape({3, 2}));
  r[0] = -1;
  CHECK(a[0] == real(1.5));
  const std::string mr = invalid_argument_message([&] { (void)a.reshaped(Shape{4}); });
  CHECK(mr.find("reshape") != std::string::npos);
  CHECK(mr.find("(2, 3)") != std::string::npos);
  CHECK(mr.find("(4,)") != std::string::npos);

  a.fill(2);
  CHECK(a[3] == 2);
  CHECK(a.all_finite());
  a[4] = std::numeric_limits<real>::quiet_NaN();
  CHECK_FALSE(a.all_finite());
  a[4] = std::numeric_limits<real>::infinity();
  CHECK_FALSE(a.all_finite());
  CHECK(Tensor(Shape{0, 3}).numel() == 0);
  CHECK(Tensor(Shape{0, 3}).all_finite());
}

TEST_CASE("flat vector algebra: dot, norm2, axpy, add, sub, scaled, max_abs_diff") {
  const Tensor x = Tensor::vector({1, -2, 3}), y(Shape{3, 1}, std::vector<real>{4, 5, -6});
  CHECK(dot(x, y) == doctest::Approx(4 - 10 - 18));  // shapes may differ, numel must match
  CHECK(norm2(x) == doctest::Approx(14));
  Tensor z = x;
  axpy(real(2), y.reshaped(Shape{3}), z);
  CHECK(z.to_vector() == std::vector<real>{9, 8, -9});
  const Tensor z2 = axpy_new(real(2), y, x);  // x + 2y as a new tensor of x's shape: axpy's bits on a copy
  CHECK(z2.shape() == x.shape());
  CHECK(z2.to_vector() == z.to_vector());
  CHECK(x.to_vector() == std::vector<real>{1, -2, 3});
  CHECK(add(x, y).to_vector() == std::vector<real>{5, 3, -3});
  CHECK(sub(x, y).to_vector() == std::vector<real>{-3, -7, 9});
  CHECK(scaled(x, real(-0.5)).to_vector() == std::vector<real>{-0.5, 1, -1.5});
  CHECK(max_abs_diff(x, y) == doctest::Approx(9));
  Tensor w(Shape{4});
  CHECK_THROWS_AS(dot(x, w), bilevel::internal_error);
  CHECK_THROWS_AS(add(x, w), bilevel::internal_error);
  CHECK_THROWS_AS(max_abs_diff(x, w), bilevel::internal_error);
  CHECK(invalid_argument_message([&] { axpy(1, x, w); }).find("axpy") != std::string::npos);
  CHECK(invalid_argument_message([&] { (void)axpy_new(1, x, w); }).find("axpy") != std::string::npos);
  // dot accumulates in double: 10⁶ copies of 0.1 sum to 10⁵ even with float elements.
  const Tensor many(Shape{1000000}, real(0.1));
  const Tensor ones(Shape{1000000}, real(1));
  CHECK(dot(many, ones) == doctest::Approx(1e5).epsilon(1e-6));
}

TEST_CASE("gemm matches a naive triple loop for every transpose flag") {
  Rng rng(1);
  const int64_t m = 5, k = 7, n = 3;
  const Tensor a = rng.normal_tensor(Shape{m, k}), b = rng.normal_tensor(Shape{k, n});
  // Transposed copies, so op(A)·op(B) is always the same product A·B.
  Tensor at(Shape{k, m}), bt(Shape{n, k});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) at[j * m + i] = a[i * k + j];
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) bt[j * k + i] = b[i * n + j];
  const double tol = sizeof(real) == sizeof(double) ? 1e-12 : 1e-5;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      INFO("trans_a " << ta << ", trans_b " << tb);
      const Tensor c = gemm(ta ? at : a, tb ? bt : b, ta, tb);
      REQUIRE(c.shape() == Shape({m, n}));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double ref = 0;
          for (int64_t p = 0; p < k; ++p) ref += static_cast<double>(a[i * k + p]) * b[p * n + j];
          CHECK(c[i * n + j] == doctest::Approx(ref).epsilon(tol).scale(1.0));
        }
    }
  // Non-square products of the transposed operands themselves: (Aᵀ)ᵀ·(Aᵀ) = A·Aᵀ.
  const Tensor aat = gemm(at, at, true, false);
  REQUIRE(aat.shape() == Shape({m, m}));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double ref = 0;
      for (int64_t p = 0; p < k; ++p) ref += static_cast<double>(a[i * k + p]) * a[j * k + p];
      CHECK(aat[i * m + j] == doctest::Approx(ref).epsilon(tol).scale(1.0));
    }
  // Empty inner dimension: zeros. Empty outer dimension: an empty result.
  const Tensor z = gemm(Tensor(Shape{2, 0}), Tensor(Shape{0, 3}), false, false);
  CHECK(z.shape() == Shape({2, 3}));
  CHECK(norm2(z) == 0);
  CHECK(gemm(Tensor(Shape{0, 4}), Tensor(Shape{4, 3}), false, false).shape() == Shape({0, 3}));
  // Errors name the op and the shapes.
  const std::string msg = invalid_argument_message([&] { gemm(a, a, false, false); });
  CHECK(msg.find("matmul") != std::string::npos);
  CHECK(msg.find("(5, 7)") != std::string::npos);
  CHECK_NOTHROW(gemm(a, a, false, true));
  CHECK_THROWS_AS(gemm(Tensor::vector({1, 2}), a, false, false), bilevel::internal_error);
}

TEST_CASE("MemoryMeter counts the bytes of live tensor buffers and their peak") {
  const int64_t base = MemoryMeter::live_bytes();
  {
    Tensor a(Shape{100});
    CHECK(MemoryMeter::live_bytes() - base == bytes_of(100));
    Tensor b = a;  // copy: a second buffer
    CHECK(MemoryMeter::live_bytes() - base == bytes_of(200));
    Tensor c = std::move(b);  // move: no new buffer
    CHECK(MemoryMeter::live_bytes() - base == bytes_of(200));
    c = Tensor(Shape{10, 3});  // move-assign frees the old buffer
    CHECK(MemoryMeter::live_bytes() - base == bytes_of(130));
    Tensor d(Shape{30});
    d = c;  // copy-assign of equal size reuses the buffer
    CHECK(MemoryMeter::live_bytes() - base == bytes_of(160));
    d = a;  // different size: reallocates
    CHECK(MemoryMeter::live_bytes() - base == bytes_of(230));
    Tensor e;  // no buffer
    Tensor s = Tensor::scalar(1);
    CHECK(MemoryMeter::live_bytes() - base == bytes_of(231));
  }
  CHECK(MemoryMeter::live_bytes() == base);

  MemoryMeter::reset_peak();
  CHECK(MemoryMeter::peak_bytes() == base);
  {
    Tensor big(Shape{1000});
    Tensor small(Shape{10});
  }
  CHECK(MemoryMeter::peak_bytes() == base + bytes_of(1010));
  CHECK(MemoryMeter::live_bytes() == base);
  MemoryMeter::reset_peak();
  CHECK(MemoryMeter::peak_bytes() == base);

  // Per thread: another thread's buffers do not show up here.
  int64_t other_delta = -1;
  std::thread t([&other_delta] {
    const int64_t b0 = MemoryMeter::live_bytes();
    Tensor x(Shape{50});
    other_delta = MemoryMeter::live_bytes() - b0;
  });
  t.join();
  CHECK(other_delta == bytes_of(50));
  CHECK(MemoryMeter::live_bytes() == base);
  CHECK(MemoryMeter::peak_bytes() == base);
}

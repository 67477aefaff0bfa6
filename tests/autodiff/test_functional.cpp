// Tests of lib/autodiff/functional: gradient, hvp, hvp_from_grad, mixed_vjp and jvp, against closed
// forms (both builds) and central differences (double build).
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "base/errors.hpp"
#include "autodiff/functional.hpp"
#include "autodiff/ops.hpp"
#include "tensor/rng.hpp"

using namespace bilevel;
using namespace bilevel::ad;

namespace {

constexpr bool is_double = sizeof(real) == sizeof(double);

// Relative error with an absolute floor, over all elements.
double max_rel_err(const Tensor& a, const Tensor& b, double floor = 1e-3) {
  REQUIRE(a.numel() == b.numel());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a[i], y = b[i];
    m = std::max(m, std::abs(x - y) / std::max({floor, std::abs(x), std::abs(y)}));
  }
  return m;
}

double closed_form_tol() { return is_double ? 1e-12 : 1e-5; }

// A symmetric matrix A = M Mᵀ + I (4×4) and b.
struct Quadratic {
  Tensor a, b;
  explicit Quadratic(uint64_t seed) {
    Rng rng(seed);
    const Tensor m = rng.normal_tensor(Shape{4, 4});
    a = gemm(m, m, false, true);
    for (int64_t i = 0; i < 4; ++i) a[i * 5] += real(1);
    b = rng.normal_tensor(Shape{4});
  }
  // f(x) = ½ xᵀAx + bᵀx, x: (4,).
  Var operator()(const Var& x) const {
    Var ax = reshape(matmul(constant(a), reshape(x, Shape{4, 1})), Shape{4});
    return add(scale(dot(x, ax), real(0.5)), dot(constant(b), x));
  }
  Tensor times(const Tensor& v) const { return gemm(a, v.reshaped(Shape{4, 1}), false, false).reshaped(Shape{4}); }
};

}  // namespace

TEST_CASE("gradient matches the closed form") {
  const Tensor x0 = Tensor::vector({0.3f, -1.2f, 2.0f});
  const Tensor g = gradient([](const Var& x) { return sum(mul(sin(x), square(x))); }, x0);
  REQUIRE(g.shape() == x0.shape());
  for (int64_t i = 0; i < 3; ++i) {
    const double v = x0[i];
    CHECK(g[i] == doctest::Approx(std::cos(v) * v * v + 2 * v * std::sin(v)));
  }
  // Quadratic: ∇f = Ax + b.
  const Quadratic q(1);
  const Tensor x1 = Tensor::vector({1.0f, -0.5f, 0.25f, 2.0f});
  CHECK(max_rel_err(gradient(q, x1), add(q.times(x1), q.b)) < closed_form_tol() * 10);
}

TEST_CASE("hvp and hvp_from_grad equal A·v on a quadratic, for every v, without a stale graph") {
  const Quadratic q(2);
  Rng rng(3);
  const Tensor x0 = rng.normal_tensor(Shape{4});
  Var x = leaf(x0);
  const Var g = grad(q(x), {x}, /*create_graph=*/true)[0];
  for (int k = 0; k < 3; ++k) {
    const Tensor v = rng.normal_tensor(Shape{4});
    const Tensor ref = q.times(v);
    CHECK(max_rel_err(hvp(q, x0, v), ref) < closed_form_tol() * 10);
    CHECK(max_rel_err(hvp_from_grad(g, x, v), ref) < closed_form_tol() * 10);  // one graph, many v
  }
  // v shaped differently but with the same number of elements is accepted (flat algebra).
  const Tensor v2 = rng.normal_tensor(Shape{2, 2});
  CHECK(max_rel_err(hvp(q, x0, v2), q.times(v2.reshaped(Shape{4}))) < closed_form_tol() * 10);
  // A linear function has a zero Hessian even though its gradient graph is built with create_graph.
  const Tensor z = hvp([](const Var& t) { return sum(scale(t, real(2))); }, x0, v2);
  CHECK(norm2(z) == 0);
  CHECK_THROWS_AS(hvp(q, x0, Tensor(Shape{3})), bilevel::internal_error);
  CHECK_THROWS_AS(hvp_from_grad(g, x, Tensor(Shape{5})), bilevel::internal_error);
}

TEST_CASE("vjp_values: both products of a mixed problem; v lent to the seed comes back unchanged") {
  // L = λ·⟨θ, Aθ⟩/2: ∇_θ L = λAθ, so ∇_θ⟨∇_θ L, v⟩ = λAv and ∇_λ⟨∇_θ L, v⟩ = ⟨Aθ, v⟩.
  const Quadratic q(4);
  Rng rng(5);
  Var theta = leaf(rng.normal_tensor(Shape{4}));
  Var lambda = leaf(Tensor::scalar(real(0.7)));
  const Var ath = reshape(matmul(constant(q.a), reshape(theta, Shape{4, 1})), Shape{4});
  const Var g = grad(mul(lambda, scale(dot(theta, ath), real(0.5))), {theta}, true)[0];
  for (int k = 0; k < 2; ++k) {  // the graph is used twice: the lent seed left nothing behind
    Tensor v = rng.normal_tensor(Shape{4});
    const Tensor v0 = v;
    const std::vector<Tensor> r = vjp_values(g, v, {theta, lambda});
    CHECK(max_abs_diff(v, v0) == 0);
    CHECK(max_rel_err(r[0], scaled(q.times(v0), real(0.7))) < closed_form_tol() * 10);
    CHECK(r[1].item() == doctest::Approx(dot(ath.value(), v0)));
    CHECK(max_rel_err(r[0], hvp_from_grad(g, theta, v0)) == 0);
  }
  // A v of another shape with g's size is copied, not lent, and is unchanged too.
  Tensor v2 = rng.normal_tensor(Shape{2, 2});
  const Tensor v20 = v2;
  const std::vector<Tensor> r2 = vjp_values(g, v2, {theta});
  CHECK(v2.shape() == Shape{2, 2});
  CHECK(max_abs_diff(v2, v20) == 0);
  CHECK(max_rel_err(r2[0], scaled(q.times(v20.reshaped(Shape{4})), real(0.7))) < closed_form_tol() * 10);
}

TEST_CASE("mixed_vjp: closed form (∂_λ∇_θ L)ᵀv for L = λ·Σθ²") {
  // ∇_θ L = 2λθ, so ∂_λ∇_θ L = 2θ (a column) and (∂_λ∇_θ L)ᵀ v = 2⟨θ, v⟩.
  Var theta = leaf(Tensor::vector({1.0f, -2.0f, 0.5f}));
  Var lambda = leaf(Tensor::scalar(0.7f));
  Var l = mul(lambda, sum(square(theta)));
  Var g = grad(l, {theta}, true)[0];
  const Tensor v = Tensor::vector({0.3f, 0.1f, -1.0f});
  const Tensor m = mixed_vjp(g, lambda, v);
  REQUIRE(m.shape() == Shape{});
  CHECK(m.item() == doctest::Approx(2 * dot(theta.value(), v)));
}

TEST_CASE("jvp: closed forms for linear maps, the identity and a constant function") {
  Rng rng(4);
  const Tensor a = rng.normal_tensor(Shape{3, 4});
  const Tensor x0 = rng.normal_tensor(Shape{4});
  const Tensor v = rng.normal_tensor(Shape{4});
  auto lin = [&a](const Var& x) { return reshape(matmul(constant(a), reshape(x, Shape{4, 1})), Shape{3}); };
  const Tensor jv = jvp(lin, x0, v);
  REQUIRE(jv.shape() == Shape{3});
  CHECK(max_rel_err(jv, gemm(a, v.reshaped(Shape{4, 1}), false, false).reshaped(Shape{3})) < closed_form_tol() * 10);
  CHECK(jvp([](const Var& x) { return x; }, x0, v).to_vector() == v.to_vector());
  const Tensor c = jvp([](const Var&) { return constant(Tensor(Shape{2}, real(1))); }, x0, v);
  CHECK(c.shape() == Shape{2});
  CHECK(norm2(c) == 0);
  CHECK_THROWS_AS(jvp(lin, x0, Tensor(Shape{3})), bilevel::internal_error);
}

#ifdef BILEVEL_DOUBLE

TEST_CASE("hvp against central differences of gradients on a non-quadratic function") {
  Rng rng(5);
  const Tensor x0 = rng.normal_tensor(Shape{2, 3});
  auto f = [](const Var& x) {
    return add(sum(mul(exp(scale(x, real(0.5))), sin(x))), softmax_cross_entropy(x, {2, 0}));
  };
  const double eps = 1e-5;
  for (int k = 0; k < 3; ++k) {
    const Tensor v = rng.normal_tensor(Shape{2, 3});
    Tensor xp = x0, xm = x0;
    axpy(real(eps), v, xp);
    axpy(real(-eps), v, xm);
    const Tensor fd = scaled(sub(gradient(f, xp), gradient(f, xm)), real(1 / (2 * eps)));
    CHECK(max_rel_err(hvp(f, x0, v), fd) < 1e-6);
  }
}

TEST_CASE("mixed_vjp against central differences in λ of ⟨∇_θ L, v⟩") {
  // L(θ, λ) = Σᵢ softplus(λᵢ)·(Bθ)ᵢ² + tanh(Σλ)·Σθ³ with θ: (4,), λ: (3,), B: (3, 4).
  Rng rng(6);
  const Tensor b = rng.normal_tensor(Shape{3, 4});
  const Tensor th0 = rng.normal_tensor(Shape{4}), la0 = rng.normal_tensor(Shape{3});
  auto loss = [&b](const Var& th, const Var& la) {
    Var bt = reshape(matmul(constant(b), reshape(th, Shape{4, 1})), Shape{3});
    return add(dot(softplus(la), square(bt)), mul(tanh(sum(la)), sum(pow(th, real(3)))));
  };
  auto grad_theta = [&](const Tensor& la) {
    Var th = leaf(th0), l = constant(la);
    return grad(loss(th, l), {th})[0].value();
  };
  const double eps = 1e-5;
  for (int k = 0; k < 3; ++k) {
    const Tensor v = rng.normal_tensor(Shape{4});
    Var th = leaf(th0), la = leaf(la0);
    const Var g = grad(loss(th, la), {th}, /*create_graph=*/true)[0];
    const Tensor m = mixed_vjp(g, la, v);
    REQUIRE(m.shape() == Shape{3});
    Tensor fd(Shape{3});
    for (int64_t j = 0; j < 3; ++j) {
      Tensor lp = la0, lm = la0;
      lp[j] += real(eps);
      lm[j] -= real(eps);
      fd[j] = static_cast<real>((dot(grad_theta(lp), v) - dot(grad_theta(lm), v)) / (2 * eps));
    }
    CHECK(max_rel_err(m, fd) < 1e-6);
    // The other mixed block, (∂_θ∇_λ L)ᵀu, from the same loss: the two are transposes of each other.
    const Var gl = grad(loss(th, la), {la}, true)[0];
    const Tensor u = rng.normal_tensor(Shape{3});
    CHECK(dot(mixed_vjp(gl, th, u), v) == doctest::Approx(dot(mixed_vjp(g, la, v), u)));
  }
}

TEST_CASE("jvp against central differences of a nonlinear vector function") {
  Rng rng(7);
  const Tensor w = rng.normal_tensor(Shape{3, 2});
  const Tensor x0 = rng.normal_tensor(Shape{2, 3});
  auto f = [&w](const Var& x) { return softmax(matmul(tanh(x), constant(w))); };  // (2, 3) → (2, 2)
  const double eps = 1e-5;
  for (int k = 0; k < 3; ++k) {
    const Tensor v = rng.normal_tensor(Shape{2, 3});
    Tensor xp = x0, xm = x0;
    axpy(real(eps), v, xp);
    axpy(real(-eps), v, xm);
    Tensor fd;
    {
      NoGradGuard ng;
      fd = scaled(sub(f(constant(xp)).value(), f(constant(xm)).value()), real(1 / (2 * eps)));
    }
    const Tensor jv = jvp(f, x0, v);
    REQUIRE(jv.shape() == Shape({2, 2}));
    CHECK(max_rel_err(jv, fd) < 1e-6);
  }
}

#endif

// Tests of the fused batch-norm ops (lib/autodiff/ops_batchnorm.cpp): values, first, second and third
// derivatives against the same function composed of element-wise ops (both builds), and finite-difference
// checks of first, second and third order (double build).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/ops.hpp"
#include "gradcheck.hpp"
#include "tensor/rng.hpp"

using namespace bilevel;
using namespace bilevel::ad;
namespace gc = bilevel::gradcheck;

namespace {

using gc::randn;

// The standardisation composed of element-wise ops (the former batch_norm): the reference.
Var standardize_composite(const Var& x, real eps) {
  const int64_t c = x.shape()[x.rank() - 1];
  const Var x2 = reshape(x, Shape{x.numel() / c, c});
  const Var xc = sub(x2, mean(x2, 0, true));
  const Var var = mean(square(xc), 0, true);
  return reshape(div(xc, sqrt(add_scalar(var, eps))), x.shape());
}

// ⟨a, f⟩ + ½⟨b, f²⟩ of a standardisation f, and its gradient (with graph) in x.
Var readout(const Var& y, const Tensor& a, const Tensor& b) {
  return add(dot(y, constant(a)), scale(dot(mul(y, y), constant(b)), real(0.5)));
}

double tol() { return gc::is_double ? 1e-10 : 2e-4; }

}  // namespace

TEST_CASE("batch_standardize: value and derivatives of orders 1–3 equal the composite of element-wise ops") {
  for (const Shape& s : {Shape{7, 3}, Shape{2, 3, 4, 5}, Shape{1, 1, 1, 4}}) {
    INFO("shape " << s.str());
    const Tensor x0 = randn(s, 1, 2.0);
    const Tensor a = randn(s, 2), b = randn(s, 3), v = randn(s, 4), w = randn(s, 5);
    const real eps = real(1e-3);
    auto derivatives = [&](auto standardize) {
      const Var x = leaf(x0);
      const Var y = standardize(x, eps);
      const Var g1 = grad(readout(y, a, b), {x}, true)[0];                  // first order
      const Var g2 = grad(dot(g1, constant(v)), {x}, true)[0];              // H·v
      const Var g3 = grad(dot(g2, constant(w)), {x})[0];                    // third order
      return std::vector<Tensor>{y.value(), g1.value(), g2.value(), g3.value()};
    };
    const auto fused = derivatives([](const Var& x, real e) { return batch_standardize(x, e); });
    const auto composite = derivatives(standardize_composite);
    for (size_t order = 0; order < fused.size(); ++order) {
      INFO("order " << order);
      double scale = 1;
      for (int64_t i = 0; i < composite[order].numel(); ++i) scale = std::max(scale, std::abs(double(composite[order][i])));
      CHECK(max_abs_diff(fused[order], composite[order]) <= tol() * scale);
    }
  }
}

TEST_CASE("batch_standardize: zero mean and unit variance per channel; bad shapes are refused") {
  const Tensor x = randn(Shape{6, 2, 2, 3}, 7, 5.0);
  const Tensor y = batch_standardize(constant(x), real(1e-8)).value();
  for (int64_t c = 0; c < 3; ++c) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < 24; ++i) {
      s += y[i * 3 + c];
      s2 += double(y[i * 3 + c]) * y[i * 3 + c];
    }
    CHECK(std::abs(s / 24) < 1e-5);
    CHECK(std::abs(s2 / 24 - 1) < 1e-4);
  }
  CHECK_THROWS(batch_standardize(constant(Tensor(Shape{5})), real(1e-5)));
  CHECK_THROWS(batch_standardize(constant(Tensor(Shape{0, 3})), real(1e-5)));
  CHECK_THROWS(batch_standardize(constant(x), real(0)));
}

#ifdef BILEVEL_DOUBLE

TEST_CASE("gradcheck: batch_standardize and batch_norm, first, second and third order") {
  auto bs = gc::unary([](const Var& x) { return batch_standardize(x, real(1e-5)); });
  auto bn = [](const std::vector<Var>& in) { return batch_norm(in[0], in[1], in[2]); };
  // Third order: the gradient of a read-out (recorded with its graph) is itself checked to second order.
  auto grad_of_readout = [](const Tensor& a, const Tensor& b) {
    return [a, b](const std::vector<Var>& in) {
      return grad(readout(batch_norm(in[0], in[1], in[2]), a, b), {in[0]}, true)[0];
    };
  };
  for (const Shape& s : {Shape{5, 3}, Shape{2, 3, 2, 2}, Shape{3, 4, 4, 6}}) {
    INFO("shape " << s.str());
    const int64_t c = s[s.rank - 1];
    const Tensor x = randn(s, 20, 1.5), gamma = randn(Shape{c}, 21), beta = randn(Shape{c}, 22);
    CHECK_GRADCHECK(gc::check_jacobian(bs, {x}));
    CHECK_GRADCHECK(gc::check_second_order(bs, {x}));
    CHECK_GRADCHECK(gc::check_jacobian(bn, {x, gamma, beta}));
    CHECK_GRADCHECK(gc::check_second_order(bn, {x, gamma, beta}));
    const auto g = grad_of_readout(randn(s, 23), randn(s, 24));
    CHECK_GRADCHECK(gc::check_jacobian(g, {x, gamma, beta}));
    CHECK_GRADCHECK(gc::check_second_order(g, {x, gamma, beta}));
  }
}

#endif

// Tests of the fused batch-norm ops (lib/autodiff/ops_batchnorm.cpp): values, first, second and third
// derivatives against the same function composed of element-wise ops (both builds), and finite-difference
// checks of first, second and third order (double build).
#include <doctest/doctest.h>

#include <algorithm>
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

// z, γ, β for scale_shift_relu with every z·γ + β at least `margin` from ReLU's kink (|γ| ≥ 0.5): finite-difference
// steps never cross it.
std::vector<Tensor> affine_inputs(const Shape& s, uint64_t seed, double margin = 0.2) {
  const int64_t c = s[s.rank - 1];
  Tensor z = randn(s, seed, 1.5), gamma = gc::nudge_off_kinks(randn(Shape{c}, seed + 1), 0.5), beta = randn(Shape{c}, seed + 2);
  for (int64_t i = 0; i < z.numel(); ++i) {
    const int64_t j = i % c;
    const double u = static_cast<double>(z[i]) * gamma[j] + beta[j];
    if (std::abs(u) < margin) z[i] = static_cast<real>(((u < 0 ? -margin : margin) - beta[j]) / gamma[j]);
  }
  return {z, gamma, beta};
}

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

TEST_CASE("scale_shift_relu: value equals relu(z·γ + β) bit for bit; derivatives of orders 1–3 equal the composite") {
  for (const Shape& s : {Shape{7, 3}, Shape{2, 3, 4, 5}, Shape{1, 1, 1, 4}}) {
    INFO("shape " << s.str());
    const std::vector<Tensor> in = affine_inputs(s, 30);
    const Tensor a = randn(s, 33), b = randn(s, 34), v = randn(s, 35), w = randn(s, 36);
    const int64_t c = s[s.rank - 1];
    const Tensor vg = randn(Shape{c}, 37), vb = randn(Shape{c}, 38);
    auto derivatives = [&](auto f) {
      const Var z = leaf(in[0]), gamma = leaf(in[1]), beta = leaf(in[2]);
      const Var y = f(z, gamma, beta);
      const auto g1 = grad(readout(y, a, b), {z, gamma, beta}, true);  // first order
      const Var d = add(add(dot(g1[0], constant(v)), dot(g1[1], constant(vg))), dot(g1[2], constant(vb)));
      const auto g2 = grad(d, {z, gamma, beta}, true);  // H·(v, vg, vb)
      const Var g3 = grad(add(dot(g2[0], constant(w)), dot(g2[1], constant(vg))), {z, gamma})[1];  // third order
      return std::vector<Tensor>{y.value(),        g1[0].value(), g1[1].value(), g1[2].value(),
                                 g2[0].value(),    g2[1].value(), g2[2].value(), g3.value()};
    };
    const auto fused = derivatives([](const Var& z, const Var& g, const Var& bt) { return scale_shift_relu(z, g, bt); });
    const auto composite = derivatives([](const Var& z, const Var& g, const Var& bt) { return relu(add(mul(z, g), bt)); });
    CHECK(max_abs_diff(fused[0], composite[0]) == 0);
    for (size_t k = 1; k < fused.size(); ++k) {
      INFO("derivative " << k);
      double scale = 1;
      for (int64_t i = 0; i < composite[k].numel(); ++i) scale = std::max(scale, std::abs(double(composite[k][i])));
      CHECK(max_abs_diff(fused[k], composite[k]) <= tol() * scale);
    }
  }
  // Negative inputs give zeros and no gradient; bad shapes are refused.
  const Var z = leaf(Tensor(Shape{2, 2}, std::vector<real>{-1, 2, 3, -4}));
  const Var y = scale_shift_relu(z, constant(Tensor(Shape{2}, real(1))), constant(Tensor(Shape{2})));
  CHECK(y.value().to_vector() == std::vector<real>{0, 2, 3, 0});
  CHECK(grad(sum(y), {z})[0].value().to_vector() == std::vector<real>{0, 1, 1, 0});
  CHECK_THROWS(scale_shift_relu(z, constant(Tensor(Shape{3})), constant(Tensor(Shape{2}))));
  CHECK_THROWS(scale_shift_relu(constant(Tensor(Shape{4})), constant(Tensor(Shape{4})), constant(Tensor(Shape{4}))));
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

TEST_CASE("gradcheck: scale_shift_relu and batch_norm_relu, first, second and third order") {
  auto ssr = [](const std::vector<Var>& in) { return scale_shift_relu(in[0], in[1], in[2]); };
  auto grad_of_readout = [](const Tensor& a, const Tensor& b) {
    return [a, b](const std::vector<Var>& in) {
      return grad(readout(scale_shift_relu(in[0], in[1], in[2]), a, b), {in[0], in[1]}, true)[1];
    };
  };
  for (const Shape& s : {Shape{5, 3}, Shape{2, 3, 2, 2}, Shape{3, 4, 4, 6}}) {
    INFO("shape " << s.str());
    const std::vector<Tensor> in = affine_inputs(s, 40);
    CHECK_GRADCHECK(gc::check_jacobian(ssr, in));
    CHECK_GRADCHECK(gc::check_second_order(ssr, in));
    const auto g = grad_of_readout(randn(s, 43), randn(s, 44));
    CHECK_GRADCHECK(gc::check_jacobian(g, in));
    CHECK_GRADCHECK(gc::check_second_order(g, in));
  }
  // batch_norm_relu end to end: x standardised, then scaled and shifted; inputs drawn until no pre-activation is
  // near the kink (checked, so the finite differences are valid).
  auto bnr = [](const std::vector<Var>& in) { return batch_norm_relu(in[0], in[1], in[2]); };
  for (const Shape& s : {Shape{6, 3}, Shape{2, 3, 3, 2}}) {
    INFO("shape " << s.str());
    const int64_t c = s[s.rank - 1];
    Tensor x, gamma, beta;
    double closest = 0;
    for (uint64_t seed = 50; closest < 0.05 && seed < 150; seed += 3) {
      x = randn(s, seed, 1.5);
      gamma = gc::nudge_off_kinks(randn(Shape{c}, seed + 1), 0.5);
      beta = randn(Shape{c}, seed + 2);
      const Tensor u = batch_norm(constant(x), constant(gamma), constant(beta)).value();
      closest = 1e9;
      for (int64_t i = 0; i < u.numel(); ++i) closest = std::min(closest, std::abs(static_cast<double>(u[i])));
    }
    REQUIRE(closest >= 0.05);
    CHECK_GRADCHECK(gc::check_jacobian(bnr, {x, gamma, beta}));
    CHECK_GRADCHECK(gc::check_second_order(bnr, {x, gamma, beta}));
  }
}

#endif

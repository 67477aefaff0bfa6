// The exact backward pass's optional clipping (the UFOM code's clip_grads): off by default and with a bound no
// element reaches, the same bits as exact; with a small bound the same as the adjoint recursion written out with
// the clip after each step; and ufo's exact branch clips the same way.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <map>

#include "hypergrad/reverse.hpp"
#include "hypergrad/unroll.hpp"
#include "instance.hpp"

using namespace bilevel;

namespace {

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(static_cast<double>(t[i])));
  return m;
}

HypergradResult estimate(const std::string& name, const testing::Instance& in, std::map<std::string, std::string> sets) {
  const MethodInfo& m = find_method(name);
  Options o = Options::resolve(name, m.options, sets);
  REQUIRE(sets.empty());
  Rng rng(3);
  return make_estimator(m, o, *in.problem)->estimate(*in.problem, in.lambda, in.task, rng);
}

// v ← v − αH_j v (+ the mixed term into g), then α·v clipped to ±c, for j = r−1 … 0; g + (∂θ₀/∂λ)ᵀv.
Tensor clipped_by_hand(const testing::Instance& in, real c) {
  const Problem& p = *in.problem;
  HypergradResult cost;
  const std::vector<Tensor> states = unroll_stored(p, in.lambda, in.task, p.inner().steps, cost);
  OuterGrad og = outer_grad(p, states.back(), in.lambda, in.task, cost);
  Tensor v = og.d_theta, g = og.d_lambda;
  const real lr = p.inner().lr;
  for (int64_t j = p.inner().steps - 1; j >= 0; --j) {
    adjoint_step(linearize(p, states[static_cast<size_t>(j)], in.lambda, in.task), lr, v, g, cost);
    for (int64_t i = 0; i < v.numel(); ++i) v[i] = std::clamp(v[i], -c / lr, c / lr);
  }
  axpy(real(1), theta0_vjp(p, in.lambda, in.task, v), g);
  return g;
}

}  // namespace

TEST_SUITE("hypergrad") {
  TEST_CASE("exact clip: off or unreached gives exact's bits; reached gives the clipped adjoint recursion") {
    for (const char* problem : {"quadratic", "sinusoid"}) {
      CAPTURE(problem);
      const testing::Instance in = testing::make_instance(problem, {{"inner_steps", "4"}});
      const HypergradResult exact = estimate("exact", in, {});
      CHECK(max_abs_diff(estimate("exact", in, {{"clip", "1e30"}}).grad, exact.grad) == 0);
      // A bound below the largest |α·v| of the first adjoint step: clipping happens and changes the result.
      const real lr = in.problem->inner().lr;
      HypergradResult c0;
      const Tensor theta_r = unroll(*in.problem, in.lambda, in.task, 4, c0);
      const double vmax = max_abs(outer_grad(*in.problem, theta_r, in.lambda, in.task, c0).d_theta) * lr;
      char text[32];
      std::snprintf(text, sizeof text, "%.3g", 0.2 * vmax);  // the option's text, and exactly the value it parses to
      const real c = static_cast<real>(std::stod(text));
      REQUIRE(c > 0);
      const HypergradResult clipped = estimate("exact", in, {{"clip", text}});
      const Tensor by_hand = clipped_by_hand(in, c);
      CHECK(max_abs_diff(clipped.grad, by_hand) <= 1e-6 * (1 + max_abs(by_hand)));
      CHECK(max_abs_diff(clipped.grad, exact.grad) > 1e-3 * max_abs(exact.grad));
      // ufo with q = 1 draws the exact branch on every task: its estimate is the clipped exact one.
      const HypergradResult u = estimate("ufo", in, {{"q", "1"}, {"clip", text}});
      CHECK(max_abs_diff(u.grad, clipped.grad) <= 1e-6 * (1 + max_abs(by_hand)));
    }
  }
}

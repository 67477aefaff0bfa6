// The UFOM toy's theory and closed-form SGD (problems/ufo_toy.hpp, ufo_toy_theory.cpp): the §3.1 constants and
// bounds, UFOM-SGD on the two tasks (its random-stream contract, cost model and the §3.2 outcome), and the
// α-sweep's experimental best q.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "problems/ufo_toy.hpp"
#include "tensor/rng.hpp"

using namespace bilevel;

namespace {

ufo_toy::Params qcurve_with_alpha(double alpha) {
  ufo_toy::Params p = ufo_toy::qcurve_params();
  p.lr = alpha;
  return p;
}

}  // namespace

TEST_SUITE("problems") {
  TEST_CASE("ufo toy constants: L1 = sup|f'|, L2 = sup f'', L3 = the Lipschitz constant of f''") {
    const ufo_toy::Params p = ufo_toy::qcurve_params();
    const ufo_toy::Constants c = ufo_toy::constants(p);
    CHECK(c.L1 == doctest::Approx(1.5 * 400.5));
    CHECK(c.M1 == 1);
    double sup1 = 0, sup2 = 0, lip = 0;
    const double h = 1e-3;
    for (int t = 0; t < 2; ++t) {
      for (double phi = -1000; phi <= 1000; phi += 0.01) {
        sup1 = std::max(sup1, std::abs(ufo_toy::f_d1(phi, p.a[t], p.b[t], p.A)));
        sup2 = std::max(sup2, std::abs(ufo_toy::f_d2(phi, p.a[t], p.b[t], p.A)));
        lip = std::max(lip, std::abs(ufo_toy::f_d2(phi + h, p.a[t], p.b[t], p.A) - ufo_toy::f_d2(phi, p.a[t], p.b[t], p.A)) / h);
      }
    }
    // Each is attained (tails, quadratic zone, cubic blend), so the constants are the sups, not just bounds.
    CHECK(sup1 == doctest::Approx(c.L1).epsilon(1e-12));
    CHECK(sup2 == doctest::Approx(c.L2).epsilon(1e-12));
    CHECK(lip == doctest::Approx(c.L3).epsilon(1e-6));
  }

  TEST_CASE("ufo toy bounds: the code's formula (Σ over j = 1..r), and they bound the true D and V") {
    const ufo_toy::Constants c{600.75, 1.5, 1.5, 1.0};
    const ufo_toy::Bounds zero = ufo_toy::bounds(c, 0.0, 10);
    CHECK(zero.d == 0);                     // no inner step size, no FOM bias
    CHECK(zero.v == doctest::Approx(2 * c.L1));  // L1 + M1·L1
    for (double alpha : {0.001, 0.01, 0.05}) {
      for (int64_t r : {1, 10}) {
        const double g = 1 + alpha * c.L2, geo = g * (std::pow(g, r) - 1) / (g - 1);  // Σ_{j=1}^{r} g^j
        const ufo_toy::Bounds b = ufo_toy::bounds(c, alpha, r);
        CHECK(b.d == doctest::Approx((1 + c.M1) * c.L1 * c.L2 * alpha * geo).epsilon(1e-12));
        CHECK(b.v == doctest::Approx(c.L1 + c.M1 * c.L1 * std::pow(g, r) + c.L1 * c.L2 * alpha * geo).epsilon(1e-12));
      }
    }
    // On the q-curve tasks across the sweep's α range, the bounds hold, and so does the derivation's tighter
    // D bound with Σ over j = 0..r−1 (= the code's divided by 1 + αL2).
    for (double alpha : {0.001, 0.0047, 0.0137, 0.05}) {
      const ufo_toy::Params p = qcurve_with_alpha(alpha);
      const ufo_toy::Constants cp = ufo_toy::constants(p);
      const ufo_toy::BiasVariance bv = ufo_toy::bias_variance(p, -1000, 1000, 20001);  // tails included
      const ufo_toy::Bounds b = ufo_toy::bounds(cp, alpha, p.steps);
      CAPTURE(alpha);
      CHECK(std::sqrt(bv.d2) <= b.d / (1 + alpha * cp.L2));
      CHECK(std::sqrt(bv.v2) <= b.v);
    }
  }

  TEST_CASE("ufo toy SGD: the random streams, the cost model and prefix consistency") {
    const ufo_toy::Params p = qcurve_with_alpha(0.01);
    ufo_toy::SgdSetup s;
    s.starts = 3;
    s.iters = 40;
    s.seed = 7;
    s.q = 0.3;
    const ufo_toy::SgdCurve c = ufo_toy::sgd_curve(p, s);
    REQUIRE(c.mean_sq_grad.size() == 41);
    // The documented streams: x0 from (seed, 1, s), the task and u from (seed, 2, s); rebuilt here step by step.
    std::vector<double> sq(41, 0.0), cost(41, 0.0);
    for (uint64_t st = 0; st < 3; ++st) {
      double th = Rng(7, {1, st}).uniform(-50, 50);
      Rng d(7, {2, st});
      double acc = 0;
      for (int k = 0; k <= 40; ++k) {
        const double dm = ufo_toy::objective_grad(p, th);
        sq[k] += dm * dm / 3;
        cost[k] += acc / 3;
        const int64_t task = d.randint(2);
        const bool xi = d.uniform() < 0.3;
        const ufo_toy::TaskGrads g = ufo_toy::task_grads(p, task, th);
        th -= 10.0 / (k + 1) * (xi ? g.g_fo + (g.g_ex - g.g_fo) / 0.3 : g.g_fo);
        acc += xi ? 21 : 11;
      }
    }
    for (int k = 0; k <= 40; ++k) {
      CAPTURE(k);
      CHECK(c.mean_sq_grad[k] == doctest::Approx(sq[k]).epsilon(1e-12));
      CHECK(c.mean_cost[k] == doctest::Approx(cost[k]).epsilon(1e-12));
    }
    // A shorter run is a prefix of a longer one, bit for bit; another seed gives another curve.
    s.iters = 20;
    const ufo_toy::SgdCurve shorter = ufo_toy::sgd_curve(p, s);
    for (int k = 0; k <= 20; ++k) CHECK(shorter.mean_sq_grad[k] == c.mean_sq_grad[k]);
    s.seed = 8;
    CHECK(ufo_toy::sgd_curve(p, s).mean_sq_grad[20] != c.mean_sq_grad[20]);
    // Cost per step: r + 1 for FOM, 2r + 1 when every step is exact.
    s.q = 0;
    CHECK(ufo_toy::sgd_curve(p, s).mean_cost[20] == 20 * 11);
    s.q = 1;
    CHECK(ufo_toy::sgd_curve(p, s).mean_cost[20] == 20 * 21);
  }

  TEST_CASE("ufo toy SGD on the counterexample: FOM stalls at |M'| = √(2D), UFOM q = 0.1 does not") {
    // Reference ufom.md §3.2: x0 ~ U(−10, 30), 10000 steps, γ_k = 10/(k+1); reruns end with FOM |M'| in
    // [0.336, 0.352] and UFOM (q = 0.1) |M'| ≤ 0.066. So mean M'² over 20 starts: FOM near 2D = 0.12, UFOM far below.
    const ufo_toy::Params p = ufo_toy::counterexample_params(10, 0.1, 0.5, 1.5, 0.06);
    ufo_toy::SgdSetup s;
    s.starts = 20;
    s.iters = 10000;
    s.x0_lo = -10;
    s.x0_hi = 30;
    s.q = 0;
    const double fom = ufo_toy::sgd_curve(p, s).mean_sq_grad.back();
    s.q = 0.1;
    const double ufom = ufo_toy::sgd_curve(p, s).mean_sq_grad.back();
    CHECK(fom == doctest::Approx(0.12).epsilon(0.12));
    CHECK(ufom < 0.01);
  }

  TEST_CASE("ufo toy best q: δ from the first curve, the first crossing's cost, the argmin") {
    auto curve = [](std::vector<double> sq, double step_cost) {
      ufo_toy::SgdCurve c;
      c.mean_sq_grad = sq;
      for (size_t k = 0; k < sq.size(); ++k) c.mean_cost.push_back(step_cost * static_cast<double>(k));
      return c;
    };
    const std::vector<ufo_toy::SgdCurve> cs = {
        curve({9, 5, 2, 3, 2.5}, 11),  // δ = 2 (its minimum, reached at k = 2: cost 22)
        curve({9, 4, 1, 1, 1}, 13),    // reaches 2 at k = 2: cost 26
        curve({9, 2, 8, 8, 8}, 15),    // reaches 2 at k = 1: cost 15 → best
        curve({9, 3, 3, 3, 3}, 21),    // never: +∞
    };
    const ufo_toy::BestQ b = ufo_toy::best_q(cs);
    CHECK(b.delta == 2);
    REQUIRE(b.cost_to_delta.size() == 4);
    CHECK(b.cost_to_delta[0] == 22);
    CHECK(b.cost_to_delta[1] == 26);
    CHECK(b.cost_to_delta[2] == 15);
    CHECK(std::isinf(b.cost_to_delta[3]));
    CHECK(b.best == 2);
  }
}

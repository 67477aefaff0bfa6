// check --bias-variance and the UFOM theory of the toys (run/check_ufo.hpp): the reference's α-sweep table and
// the q-curve q* (ufom.md §4.1), reproduced to the printed digits from D² and V² computed here.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "base/errors.hpp"
#include "problems/ufo_toy.hpp"
#include "run/check.hpp"
#include "run/check_ufo.hpp"

using namespace bilevel;

namespace {

// `x` rounded to `digits` significant digits, as printed with %.{digits}g.
double rounded(double x, int digits) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", digits, x);
  return std::stod(b);
}

// T(q)·S(q)^κ with the toy's cost model, the quantity q* must minimise (the definition, not the rule).
double cost_times_variance(double q, double d2, double v2, double r, double kappa) {
  return (r + 1 + q * r) * std::pow(v2 + (1 / q - 1) * d2, kappa);
}

}  // namespace

TEST_SUITE("run") {
  TEST_CASE("UFOM theory: the α-sweep's D², V² and q* (κ = ½) on a 2001-point grid, to the printed digits") {
    // Reference ufom.md §4.1 item 3 (q*) and the coordinator's independent Python run (D², V²).
    const double d2_want[10] = {0.7859, 1.831, 4.212, 9.497, 20.77, 43.31, 83.93, 145.1, 210.4, 232.1};
    const double v2_want[10] = {3708, 3595, 3428, 3185, 2843, 2387, 1825, 1212, 655.9, 273.3};
    const double q_want[10] = {0.011, 0.017, 0.026, 0.040, 0.062, 0.096, 0.151, 0.242, 0.405, 0.846};
    for (int i = 0; i < 10; ++i) {
      ufo_toy::Params p = ufo_toy::qcurve_params();
      p.lr = std::exp(std::log(0.001) + i / 9.0 * (std::log(0.05) - std::log(0.001)));
      CAPTURE(p.lr);
      const ufo_toy::BiasVariance bv = ufo_toy::bias_variance(p, -50, 50, 2001);
      CHECK(rounded(bv.d2, 4) == d2_want[i]);
      CHECK(rounded(bv.v2, 4) == v2_want[i]);
      const double q = ufo_toy_q_star(bv.d2, bv.v2, p.steps, 0.5);
      CHECK(std::round(q * 1000) / 1000 == doctest::Approx(q_want[i]).epsilon(1e-12));
      // and q minimises T·S^½ over a fine grid of (0, 1]
      double best = 1, best_f = cost_times_variance(1, bv.d2, bv.v2, 10, 0.5);
      for (int k = 1; k < 100000; ++k) {
        const double t = k / 100000.0;
        const double f = cost_times_variance(t, bv.d2, bv.v2, 10, 0.5);
        if (f < best_f) best_f = f, best = t;
      }
      CHECK(std::abs(q - best) <= 2e-5);  // the grid step is 1e-5
    }
  }

  TEST_CASE("UFOM theory: the q-curve instance (10000-point grid) gives D² = 53.21, V² = 2229.3, q* = 0.110") {
    const UfoTheory t = ufo_theory(ufo_toy::qcurve_params(), -50, 50, 10000);
    CHECK(rounded(t.grid_max.d2, 4) == 53.21);
    CHECK(rounded(t.grid_max.v2, 5) == 2229.3);
    REQUIRE(t.q_star.size() == 4);
    CHECK(t.q_star[0].kappa == 0.5);
    CHECK(t.q_star[0].cost_model == "stored");
    CHECK(t.q_star[0].c_det == 11);
    CHECK(t.q_star[0].c_rnd == 10);
    CHECK(std::round(t.q_star[0].q * 1000) / 1000 == doctest::Approx(0.110).epsilon(1e-12));
    // every entry minimises T·S^κ for its own constants (checked on a grid, not by the rule)
    for (const UfoQStar& s : t.q_star) {
      CAPTURE(s.kappa);
      CAPTURE(s.cost_model);
      auto f = [&](double q) {
        return (s.c_det + q * s.c_rnd) * std::pow(t.grid_max.v2 + (1 / q - 1) * t.grid_max.d2, s.kappa);
      };
      for (double dq : {-1e-3, 1e-3}) {
        const double q2 = s.q + dq;
        if (q2 > 0 && q2 <= 1) CHECK(f(s.q) <= f(q2));
      }
    }
    CHECK(t.q_star[2].kappa == 2.0);
    CHECK(t.q_star[1].c_rnd == 10 + 45);  // recompute: r HVPs + r(r−1)/2 gradients
    CHECK(t.q_star[1].q < t.q_star[0].q);  // a dearer exact branch is drawn less often
  }

  TEST_CASE("check --bias-variance: the theory section for the toys, a usage error for other problems") {
    CheckParams cp;
    cp.problem = "ufo-qcurve";
    cp.methods = {"fo"};
    cp.samples = 2;
    cp.bias_variance = true;
    const nlohmann::json out = run_check(cp);
    REQUIRE(out.contains("bias_variance"));
    const nlohmann::json& bv = out["bias_variance"];
    CHECK(bv["grid"]["lo"].get<double>() == -50);  // the problem's x0 range
    CHECK(bv["grid"]["points"].get<int64_t>() == 10000);
    CHECK(rounded(bv["D2"].get<double>(), 4) == 53.21);
    CHECK(std::round(bv["q_star"][0]["q"].get<double>() * 1000) / 1000 == doctest::Approx(0.110).epsilon(1e-12));
    CHECK(bv["bounds"]["D2"].get<double>() >= bv["D2"].get<double>());
    CHECK(bv["bounds"]["V2"].get<double>() >= bv["V2"].get<double>());
    const std::string text = check_table_text(out);
    CHECK(text.find("q* = 0.110   (κ = 0.5, stored cost") != std::string::npos);
    // options reach the instance: a larger α has a larger bias
    cp.sets = {"inner_lr=0.05"};
    CHECK(run_check(cp)["bias_variance"]["D2"].get<double>() > 200);
    // without the flag, no section
    cp.bias_variance = false;
    CHECK(!run_check(cp).contains("bias_variance"));
    cp.problem = "quadratic";
    cp.sets = {};
    cp.bias_variance = true;
    CHECK_THROWS_AS(run_check(cp), option_error);
  }
}

// check: the bias and cosine it reports for fo against exact, on problems where fo's bias is known in closed
// form. These are the numbers `check` exists to show (FOM's bias), so they are asserted against formulas
// computed here, not against check's own output.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "problems/problem.hpp"
#include "problems/ufo_toy.hpp"
#include "run/check.hpp"

using namespace bilevel;
using nlohmann::json;

namespace {

std::vector<double> values_of(const json& tensor_json) { return tensor_json["values"].get<std::vector<double>>(); }

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

const double tol = sizeof(real) == 8 ? 1e-9 : 2e-4;  // relative, for values computed in `real`

}  // namespace

TEST_SUITE("run") {
  TEST_CASE("check: on quadratic fo is exactly zero, so its bias is minus the exact hypergradient") {
    // λ enters only L_T, so fo's ∇_λ L_V(θ_r, λ) (θ_r held fixed) is exactly 0: mean(fo) = 0, bias = −g_exact,
    // bias_norm = ‖g_exact‖, relative_bias = 1, and the cosine is undefined (a zero vector has no direction),
    // which check writes as null. g_exact itself is checked against the closed-form r-step hypergradient.
    CheckParams cp;
    cp.problem = "quadratic";
    cp.methods = {"fo", "exact"};
    cp.samples = 3;
    cp.seed = 5;
    const json out = run_check(cp);
    const std::vector<double> g_exact = values_of(out["exact"]), g_closed = values_of(out["closed_form_unrolled"]);
    REQUIRE(g_exact.size() == g_closed.size());
    const double g_norm = norm(g_exact);
    REQUIRE(g_norm > 1e-3);  // a nonzero reference, or bias and cosine could not be told apart from noise
    for (size_t i = 0; i < g_exact.size(); ++i) CHECK(g_exact[i] == doctest::Approx(g_closed[i]).epsilon(10 * tol));

    const json& fo = out["estimators"]["fo"];
    for (double v : values_of(fo["mean"])) CHECK(v == 0.0);
    CHECK(fo["bias_norm"].get<double>() == doctest::Approx(g_norm).epsilon(tol));
    CHECK(fo["relative_bias"].get<double>() == doctest::Approx(1.0).epsilon(tol));
    CHECK(fo["cosine_to_exact"].is_null());
    CHECK(fo["variance"].get<double>() == 0.0);

    const json& ex = out["estimators"]["exact"];
    CHECK(ex["bias_norm"].get<double>() <= tol * g_norm);  // the mean of 3 identical draws, rounded in `real`
    CHECK(ex["relative_bias"].get<double>() <= tol);
    CHECK(ex["cosine_to_exact"].get<double>() == doctest::Approx(1.0).epsilon(tol));
  }

  TEST_CASE("check: fo's bias and cosine on the UFOM counterexample match the per-task closed forms") {
    // One task i at θ: g_FO = f_i'(φ_r) and g_ex = f_i'(φ_r)·Πⱼ(1 − α f_i''(φⱼ)) (problems/ufo_toy.hpp). So
    // check must report bias_norm = |g_FO − g_ex|, relative_bias = |g_FO − g_ex| / |g_ex|, and cosine +1:
    // every factor 1 − α f'' is positive (α·a2 < 1), so the two have the same sign in 1-D.
    const ufo_toy::Params p = ufo_toy::counterexample_params(10, 0.1, 0.5, 1.5, 0.06);  // the problem's defaults
    std::set<int64_t> tasks_seen;
    for (uint64_t seed : {1, 2, 3, 4, 5, 6}) {
      CAPTURE(seed);
      CheckParams cp;
      cp.problem = "ufo-counterexample";
      cp.methods = {"fo"};
      cp.samples = 2;
      cp.seed = seed;
      cp.sets = {"x0_min=4", "x0_max=9"};
      const json out = run_check(cp);
      const double theta = out["instance"]["lambda"]["values"][0].get<double>();
      const int64_t task = out["instance"]["task"]["id"].get<int64_t>();
      tasks_seen.insert(task);
      const ufo_toy::TaskGrads tg = ufo_toy::task_grads(p, task, theta);
      const double bias = std::fabs(tg.g_fo - tg.g_ex);
      REQUIRE(bias > 0.3 * std::fabs(tg.g_ex));  // a real bias here, so a wrong report cannot pass by accident

      CHECK(values_of(out["exact"])[0] == doctest::Approx(tg.g_ex).epsilon(tol));
      const json& fo = out["estimators"]["fo"];
      CHECK(values_of(fo["mean"])[0] == doctest::Approx(tg.g_fo).epsilon(tol));
      CHECK(fo["bias_norm"].get<double>() == doctest::Approx(bias).epsilon(10 * tol));
      CHECK(fo["relative_bias"].get<double>() == doctest::Approx(bias / std::fabs(tg.g_ex)).epsilon(10 * tol));
      CHECK(fo["cosine_to_exact"].get<double>() == doctest::Approx(1.0).epsilon(tol));
    }
    CHECK(tasks_seen.size() == 2);  // both tasks' closed forms were exercised
  }
}

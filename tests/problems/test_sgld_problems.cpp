// gaussian-sgld against the worked numbers of reference/hpo-sgld.md §8.3, and toy-multimin's landscape.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <map>
#include <string>

#include "hypergrad/estimator.hpp"
#include "hypergrad/unroll.hpp"
#include "problems/sgld_closed_form.hpp"

using namespace bilevel;

namespace {

std::unique_ptr<Problem> make_problem(const std::string& name, std::map<std::string, std::string> sets = {},
                                      Options* out_opts = nullptr) {
  const ProblemInfo& info = find_problem(name);
  Options o = Options::resolve(name, info.options, sets);
  REQUIRE(sets.empty());
  if (out_opts) *out_opts = o;
  return info.make(o, 0);
}

double metric(const Metrics& m, const std::string& key) {
  for (const auto& [k, v] : m)
    if (k == key) return v;
  FAIL("metric '" << key << "' missing");
  return NAN;
}

// The §8.3 instance: λ = ½, τ = 1 (N = 1), η = ¼.
struct Worked {
  std::unique_ptr<Problem> p = make_problem("gaussian-sgld");
  const SgldClosedForm& cf = dynamic_cast<const SgldClosedForm&>(*p);
  Tensor lambda = Tensor(Shape{1}, real(0.5));
  Task task;
  Worked() {
    Rng r(1);
    task = p->sample_task(r);
  }
  Metrics ref(SgldVariant v, SgldSchedule s, bool stationary = true, bool exact = false, double eta = 0.25) const {
    SgldPlan plan;
    plan.variant = v;
    plan.eta = eta;
    plan.temperature = 1.0;
    plan.schedule = s;
    plan.stationary_start = stationary;
    plan.exact_sampler = exact;
    return cf.sgld_reference(lambda, task, plan);
  }
};

SgldSchedule single_sample_at(int64_t k) {
  SgldSchedule s;
  s.burn_in = k - 1;
  s.samples = 1;
  return s;
}
SgldSchedule window_average(int64_t K) {
  SgldSchedule s;
  s.samples = K;
  return s;
}

}  // namespace

TEST_SUITE("problems") {
  TEST_CASE("gaussian-sgld reproduces the closed forms of the worked instance (§8.3)") {
    Worked w;
    const Metrics m = w.ref(SgldVariant::pathwise, single_sample_at(1));
    CHECK(metric(m, "F") == doctest::Approx(1.168367).epsilon(1e-6));
    CHECK(metric(m, "F_eta") == doctest::Approx(1.337381).epsilon(1e-6));
    CHECK(metric(m, "dF") == doctest::Approx(-0.997085).epsilon(1e-6));
    CHECK(metric(m, "dF_eta") == doctest::Approx(-0.968122).epsilon(1e-6));
    CHECK(metric(m, "ift") == doctest::Approx(-0.629738).epsilon(1e-6));
    CHECK(metric(w.ref(SgldVariant::cov, window_average(10)), "expected") == doctest::Approx(-1.321534).epsilon(1e-6));
    CHECK(metric(w.ref(SgldVariant::cov, window_average(10), true, true), "expected") ==
          doctest::Approx(-0.997085).epsilon(1e-6));
    for (int64_t k : {1, 7, 50}) CHECK(metric(w.ref(SgldVariant::one_step, single_sample_at(k)), "expected") ==
                                       doctest::Approx(-0.392534).epsilon(1e-6));
  }

  TEST_CASE("gaussian-sgld: per-sample expectations after a reset and window averages (§8.3 tables)") {
    Worked w;
    const std::map<int64_t, std::array<double, 3>> table = {{1, {-0.392534, -0.392534, -0.561548}},
                                                            {5, {-0.868121, -1.437416, -2.807739}},
                                                            {10, {-0.954614, -2.453113, -5.615479}},
                                                            {20, {-0.967852, -4.375918, -11.230957}},
                                                            {50, {-0.968122, -10.115910, -28.077393}}};
    for (const auto& [k, want] : table) {
      CAPTURE(k);
      CHECK(metric(w.ref(SgldVariant::pathwise, single_sample_at(k)), "expected") == doctest::Approx(want[0]).epsilon(1e-6));
      CHECK(metric(w.ref(SgldVariant::drop_hessian, single_sample_at(k)), "expected") ==
            doctest::Approx(want[1]).epsilon(1e-6));
      CHECK(metric(w.ref(SgldVariant::two_pass, single_sample_at(k)), "expected") == doctest::Approx(want[1]).epsilon(1e-6));
      CHECK(metric(w.ref(SgldVariant::frozen, single_sample_at(k)), "expected") == doctest::Approx(want[2]).epsilon(1e-6));
    }
    const std::map<int64_t, std::array<double, 3>> windows = {{5, {-0.683849, -0.943699, -1.684644}},
                                                              {10, {-0.808566, -1.499618, -3.088513}},
                                                              {20, {-0.886965, -2.506383, -5.896253}}};
    for (const auto& [K, want] : windows) {
      CAPTURE(K);
      CHECK(metric(w.ref(SgldVariant::pathwise, window_average(K)), "expected") == doctest::Approx(want[0]).epsilon(1e-6));
      CHECK(metric(w.ref(SgldVariant::drop_hessian, window_average(K)), "expected") ==
            doctest::Approx(want[1]).epsilon(1e-6));
      CHECK(metric(w.ref(SgldVariant::frozen, window_average(K)), "expected") == doctest::Approx(want[2]).epsilon(1e-6));
      // A long chain cut into windows of K steps averages the same per-window values.
      SgldSchedule cut = window_average(K);
      cut.samples = 7 * K;
      cut.window = K;
      CHECK(metric(w.ref(SgldVariant::frozen, cut), "expected") == doctest::Approx(want[2]).epsilon(1e-6));
    }
    // From θ₀ = 0 instead of the stationary law, the long-run pathwise value is still dF_η/dλ.
    CHECK(metric(w.ref(SgldVariant::pathwise, single_sample_at(400), false), "expected") ==
          doctest::Approx(-0.968122).epsilon(1e-6));
    // dF_η/dλ tends to F'(λ) as η → 0.
    const double gap_25 = std::abs(metric(w.ref(SgldVariant::pathwise, single_sample_at(1)), "dF_eta") + 0.997085);
    const double gap_01 = std::abs(metric(w.ref(SgldVariant::pathwise, single_sample_at(1), true, false, 0.01), "dF_eta") + 0.997085);
    CHECK(gap_01 < gap_25 / 10);
  }

  TEST_CASE("gaussian-sgld: the losses, the r-step closed form and exact Gibbs draws") {
    Worked w;
    // ∇_θL_T = (A + λI)θ − Aa.
    Tensor theta = Tensor::vector({real(0.3), real(-0.7)});
    HypergradResult cost;
    const Tensor g = inner_grad(*w.p, theta, w.lambda, w.task, cost);
    CHECK(g[0] == doctest::Approx(2.5 * 0.3 + 0.5 * -0.7 - 1.5).epsilon(1e-6));
    CHECK(g[1] == doctest::Approx(0.5 * 0.3 + 1.5 * -0.7 - (-0.5)).epsilon(1e-6));
    // The r-step unrolled hypergradient agrees with central differences of L_V(θ_r(λ)).
    auto loss_at = [&](double lam) {
      Tensor l(Shape{1}, static_cast<real>(lam));
      HypergradResult c;
      Tensor th = unroll(*w.p, l, w.task, w.p->inner().steps, c);
      return outer_grad(*w.p, th, l, w.task, c).loss;
    };
    const double h = 1e-4;
    const double fd = (loss_at(0.5 + h) - loss_at(0.5 - h)) / (2 * h);
    CHECK((*w.p->closed_form_unrolled(w.lambda, w.task))[0] == doctest::Approx(fd).epsilon(1e-4));
    CHECK((*w.p->closed_form_ift(w.lambda, w.task))[0] == doctest::Approx(-0.629738).epsilon(1e-5));
    // Exact draws: mean μ = (5/7, −4/7) and covariance T·B⁻¹, B⁻¹ = [[1.5, −0.5], [−0.5, 2.5]]/3.5, within 4 s.e.
    Rng rng(5);
    const int n = 40000;
    double s0 = 0, s1 = 0, s00 = 0, s01 = 0, s11 = 0;
    for (int i = 0; i < n; ++i) {
      const Tensor t = w.cf.sample_gibbs(w.lambda, w.task, 0.5, rng);
      s0 += t[0], s1 += t[1], s00 += t[0] * t[0], s01 += t[0] * t[1], s11 += t[1] * t[1];
    }
    const double c00 = 0.5 * 1.5 / 3.5, c11 = 0.5 * 2.5 / 3.5, c01 = -0.5 * 0.5 / 3.5;
    CHECK(std::abs(s0 / n - 5.0 / 7) < 4 * std::sqrt(c00 / n));
    CHECK(std::abs(s1 / n + 4.0 / 7) < 4 * std::sqrt(c11 / n));
    const double m0 = s0 / n, m1 = s1 / n;
    CHECK(std::abs(s00 / n - m0 * m0 - c00) < 4 * c00 * std::sqrt(2.0 / n));
    CHECK(std::abs(s11 / n - m1 * m1 - c11) < 4 * c11 * std::sqrt(2.0 / n));
    CHECK(std::abs(s01 / n - m0 * m1 - c01) < 4 * std::sqrt((c00 * c11 + c01 * c01) / n));
  }

  TEST_CASE("gaussian-sgld: the random instance and bad options") {
    auto p = make_problem("gaussian-sgld", {{"instance", "random"}, {"dim", "12"}});
    CHECK(p->theta_dim() == 12);
    // θ₀ = 0, one step of GD from it with exact arithmetic of the problem: ∇L_T(0) = −Aa.
    Rng r(1);
    const Task t = p->sample_task(r);
    const Tensor lam(Shape{1}, real(0.5));
    auto cf = p->closed_form_ift(lam, t);
    REQUIRE(cf.has_value());
    auto unrolled = make_problem("gaussian-sgld", {{"instance", "random"}, {"dim", "12"}, {"inner_steps", "3000"},
                                                   {"inner_lr", "0.2"}})
                        ->closed_form_unrolled(lam, t);
    CHECK((*unrolled)[0] == doctest::Approx((*cf)[0]).epsilon(1e-8));
    CHECK_THROWS_WITH_AS(make_problem("gaussian-sgld", {{"dim", "5"}}), doctest::Contains("instance=random"),
                         option_error);
  }

  TEST_CASE("toy-multimin: inner minima with different validation losses at the same λ (Figure 1)") {
    auto p = make_problem("toy-multimin");
    CHECK(p->inner_examples() == 6);
    const Tensor lam(Shape{1}, static_cast<real>(std::log(0.1)));
    const Metrics m = p->evaluate(lam);
    double lo = 1e9, hi = 0;
    for (const auto& [k, v] : m) {
      if (k.rfind("val_loss_r", 0) != 0) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    // The true basin fits the validation points to about the noise level σ² = 0.01, an alias does not.
    CHECK(lo < 0.03);
    CHECK(hi > 0.3);
    const double good = metric(m, "good_fraction");
    CHECK(good > 0.0);
    CHECK(good < 1.0);
    // The Gibbs expectation lies between the best and the worst minimum.
    CHECK(metric(m, "val_loss_gibbs") > lo);
    CHECK(metric(m, "val_loss_gibbs") < hi);
  }

  TEST_CASE("toy-multimin: minibatch losses are unbiased and the quadrature matches a 2-D sum") {
    Options o;
    auto p = make_problem("toy-multimin", {{"gibbs_tau", "1"}}, &o);
    Rng r(3);
    const Task t = p->sample_task(r);
    const Tensor lam(Shape{1}, static_cast<real>(std::log(0.05)));
    const Tensor th = Tensor::vector({real(0.8), real(1.3)});
    ad::NoGradGuard ng;
    const double full = p->inner_loss(ad::constant(th), ad::constant(lam), t).item();
    double mean_single = 0;
    for (int64_t i = 0; i < 6; ++i) mean_single += p->inner_loss_batch(ad::constant(th), ad::constant(lam), t, {i}).item() / 6;
    CHECK(mean_single == doctest::Approx(full).epsilon(1e-6));
    CHECK(p->inner_loss_batch(ad::constant(th), ad::constant(lam), t, {5, 0, 3, 1, 4, 2}).item() ==
          doctest::Approx(full).epsilon(1e-6));

    // E_p[L_V] by a plain 2-D Riemann sum over (a, ω) of the losses written out from the instance's data,
    // T = τ/N = 1/6, L2 weight 0.2 (the quadrature integrates a out analytically instead).
    const nlohmann::json d = p->describe();
    const auto xt = d["x_train"].get<std::vector<double>>(), yt = d["y_train"].get<std::vector<double>>();
    const auto xv = d["x_val"].get<std::vector<double>>(), yv = d["y_val"].get<std::vector<double>>();
    const double T = 1.0 / 6, l2 = 0.2;
    auto mse = [](double a, double w, const std::vector<double>& x, const std::vector<double>& y) {
      double s = 0;
      for (size_t k = 0; k < x.size(); ++k) s += (a * std::sin(w * x[k]) - y[k]) * (a * std::sin(w * x[k]) - y[k]);
      return s / static_cast<double>(x.size());
    };
    std::vector<std::array<double, 2>> cells;
    double mx = -1e300;
    for (double a = -6; a <= 6; a += 0.02) {
      for (double w = 0; w <= std::sqrt(80 * T / l2) + 2; w += 0.005) {
        const double e = -(mse(a, w, xt, yt) + 0.5 * l2 * (a * a + w * w)) / T;
        cells.push_back({e, mse(a, w, xv, yv)});
        mx = std::max(mx, e);
      }
    }
    double num = 0, den = 0;
    for (const auto& c : cells) {
      const double wt = std::exp(c[0] - mx);
      num += wt * c[1];
      den += wt;
    }
    const Tensor lam2(Shape{1}, static_cast<real>(std::log(l2)));
    CHECK(metric(p->evaluate(lam2), "val_loss_gibbs") == doctest::Approx(num / den).epsilon(2e-3));
  }
}

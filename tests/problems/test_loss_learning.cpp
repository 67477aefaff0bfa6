// loss-learning on a tiny generated dataset: the loss family against a direct computation, the label noise, the
// exact hypergradient against finite differences of the unrolled validation loss (double), the other estimators
// against exact, and the refusals.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "hypergrad/estimator.hpp"
#include "problems/app_test_helpers.hpp"
#include "problems/problem.hpp"

using namespace bilevel;
using namespace bilevel::testing;

namespace {

struct TinyDigits : TinyMnist {
  TinyDigits() : TinyMnist(80, 30, 4) {}
};

std::unique_ptr<Problem> make_ll(const TinyDigits& d, std::map<std::string, std::string> given) {
  return make_app_problem_on("loss-learning", d, std::move(given));
}

// ℓ_λ(z, y) from its formula, in double, for one row of logits.
double loss_formula(const std::vector<double>& z, int64_t y, const Tensor& lambda) {
  const double t = std::exp(static_cast<double>(lambda[1]));
  double m = -1e300;
  for (double v : z) m = std::max(m, v / t);
  double s = 0;
  for (double v : z) s += std::exp(v / t - m);
  std::vector<double> logp;
  for (double v : z) logp.push_back(v / t - m - std::log(s));
  const double ce = -logp[static_cast<size_t>(y)];
  double u = 0;
  for (double l : logp) u -= l / static_cast<double>(z.size());
  const double eps = 1 / (1 + std::exp(-static_cast<double>(lambda[2])));
  double out = std::exp(static_cast<double>(lambda[0])) * ((1 - eps) * ce + eps * u);
  const double q = 1 - std::exp(-ce);
  for (int64_t j = 3; j < lambda.numel(); ++j) out += static_cast<double>(lambda[j]) * std::pow(q, static_cast<double>(j - 2));
  return out;
}

}  // namespace

TEST_SUITE("problems") {
  TEST_CASE("loss-learning: dimensions, layout, label noise and the loss family against its formula") {
    TinyDigits d;
    auto p = make_ll(d, {{"n_train", "40"}, {"n_val", "30"}, {"noise_rate", "0.4"}, {"poly_terms", "2"}});
    CHECK(p->lambda_dim() == 5);
    CHECK(p->theta_dim() == 17 * 3);
    CHECK(p->inner_examples() == 40);
    CHECK(p->describe()["flipped_labels"] == 16);  // exactly round(0.4 · 40)
    const auto layout = p->lambda_layout();
    REQUIRE(layout.size() == 4);
    CHECK(layout[3]["name"] == "poly_coefficients");
    CHECK(layout[3]["shape"][0] == 2);
    Rng r(1);
    const Tensor lambda0 = p->init_lambda(r);
    CHECK(lambda0[2] == doctest::Approx(-8.0));
    // Zero noise flips nothing; more noise than (C−1)/C is refused.
    CHECK(make_ll(d, {{"n_train", "40"}, {"n_val", "30"}, {"noise_rate", "0"}})->describe()["flipped_labels"] == 0);
    CHECK_THROWS_WITH_AS(make_ll(d, {{"n_train", "40"}, {"n_val", "30"}, {"noise_rate", "0.7"}}),
                         doctest::Contains("noise_rate"), option_error);

    // The inner loss against the formula. With the weights zero the logits are the bias b for every example, so
    // example i's loss is ℓ_λ(b, y_i): one of three values, and their mean is the inner loss.
    const Task task = p->sample_task(r);
    Tensor theta(Shape{p->theta_dim()});
    const std::vector<double> b = {0.4, -0.3, 0.9};
    for (int64_t c = 0; c < 3; ++c) theta[16 * 3 + c] = static_cast<real>(b[static_cast<size_t>(c)]);  // after W (16, 3)
    const Tensor lambda = Tensor::vector({0.3, -0.2, 0.5, 0.7, -0.4});
    double mean = 0;
    int64_t classes_seen[3] = {0, 0, 0};
    for (int64_t i = 0; i < 40; ++i) {
      const double li = p->inner_loss_batch(ad::constant(theta), ad::constant(lambda), task, {i}).item();
      int64_t match = -1;
      for (int64_t c = 0; c < 3; ++c)
        if (std::abs(li - loss_formula(b, c, lambda)) <= 1e-5 * std::abs(li)) match = c;
      CAPTURE(i);
      REQUIRE(match >= 0);
      ++classes_seen[match];
      mean += li / 40;
    }
    for (int64_t c = 0; c < 3; ++c) CHECK(classes_seen[c] > 0);
    CHECK(p->inner_loss(ad::constant(theta), ad::constant(lambda), task).item() == doctest::Approx(mean).epsilon(1e-5));
  }

  TEST_CASE("loss-learning: exact matches finite differences; the other estimators against exact") {
    TinyDigits d;
    auto p = make_ll(d, {{"n_train", "40"}, {"n_val", "30"}, {"inner_steps", "8"}, {"poly_terms", "2"}});
    const Tensor lambda = Tensor::vector({0.2, 0.1, -1.0, 0.3, -0.2});
    const Tensor g_exact = estimate_app("exact", *p, lambda).grad;
    REQUIRE(norm2(g_exact) > 0);
    // Every λ coordinate moves L_V (none is dead).
    for (int64_t i = 0; i < 5; ++i) CHECK(std::abs(g_exact[i]) > 0);
    CHECK(max_abs_diff(estimate_app("tbptt", *p, lambda, {{"k", "8"}}).grad, g_exact) == 0.0);
    CHECK(norm2(estimate_app("fo", *p, lambda).grad) == 0.0);  // λ is not in L_V
    CHECK(max_abs_diff(estimate_app("ufo", *p, lambda, {{"q", "1"}}).grad, g_exact) <= 1e-5 * std::sqrt(norm2(g_exact)));
    for (const char* m : {"ift-cg", "ift-neumann", "sgld"}) {
      CAPTURE(m);
      const Tensor g = estimate_app(m, *p, lambda).grad;
      CHECK(g.all_finite());
      CHECK(norm2(g) > 0);
    }
#ifdef BILEVEL_DOUBLE
    check_exact_against_fd(*p, lambda, g_exact, 1e-6);
#endif
  }

  TEST_CASE("loss-learning: evaluation trains fresh models; the baseline does not depend on λ") {
    TinyDigits d;
    auto p = make_ll(d, {{"n_train", "60"}, {"n_val", "20"}, {"inner_steps", "30"}, {"noise_rate", "0.3"}});
    Rng r(2);
    const Tensor l0 = p->init_lambda(r);
    const Metrics m0 = p->evaluate(l0);
    CHECK(metric_of(m0, "val_loss") == doctest::Approx(unrolled_outer_loss(*p, l0)).epsilon(1e-4));
    // At λ₀ (CE up to ε ≈ 3e-4) the fresh model matches the CE baseline's accuracy.
    CHECK(metric_of(m0, "test_acc") == doctest::Approx(metric_of(m0, "ce_test_acc")).epsilon(0.05));
    Tensor l1 = l0;
    l1[0] = real(-1);
    l1[3] = real(1);
    const Metrics m1 = p->evaluate(l1);
    CHECK(metric_of(m1, "ce_test_acc") == metric_of(m0, "ce_test_acc"));
    CHECK(metric_of(m1, "ce_early_stop_test_acc") == metric_of(m0, "ce_early_stop_test_acc"));
    CHECK(metric_of(m0, "ce_early_stop_test_acc") > 0.4);  // three learnable classes: far above chance
    CHECK(metric_of(m1, "ce_weight") == doctest::Approx(std::exp(-1.0)));
    CHECK(metric_of(m1, "val_loss") != metric_of(m0, "val_loss"));
  }

  TEST_CASE("loss-learning: missing data is a data error naming the directory") {
    FakeDataDir empty;
    CHECK_THROWS(make_app_problem("loss-learning", {{"data_dir", empty.dir()}}));
  }
}

// `quadratic` with sampled rows (option samples, the bilevel benchmark's quadratic protocol): the rows give
// (1/n)XᵀX = A with the requested spectrum, the minibatch losses are unbiased and differentiate correctly, the
// closed forms (h(λ), ∇h) hold for the sampled losses, and value_star is the minimum of h.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "autodiff/functional.hpp"
#include "gradcheck.hpp"
#include "hypergrad/value_function.hpp"
#include "instance.hpp"

using namespace bilevel;

namespace {

using testing::make_instance;

std::vector<int64_t> range(int64_t from, int64_t to) {
  std::vector<int64_t> v(static_cast<size_t>(to - from));
  std::iota(v.begin(), v.end(), from);
  return v;
}

// Largest eigenvalue of a symmetric (P, P) matrix by power iteration.
double top_eigenvalue(const std::vector<double>& a, int64_t P) {
  std::vector<double> x(static_cast<size_t>(P), 1.0), y(static_cast<size_t>(P));
  double lam = 0;
  for (int it = 0; it < 5000; ++it) {
    double n2 = 0;
    for (int64_t i = 0; i < P; ++i) {
      double s = 0;
      for (int64_t j = 0; j < P; ++j) s += a[static_cast<size_t>(i * P + j)] * x[static_cast<size_t>(j)];
      y[static_cast<size_t>(i)] = s;
      n2 += s * s;
    }
    double xy = 0, xx = 0;
    for (int64_t i = 0; i < P; ++i) xy += x[static_cast<size_t>(i)] * y[static_cast<size_t>(i)], xx += x[static_cast<size_t>(i)] * x[static_cast<size_t>(i)];
    lam = xy / xx;
    for (int64_t i = 0; i < P; ++i) x[static_cast<size_t>(i)] = y[static_cast<size_t>(i)] / std::sqrt(n2);
  }
  return lam;
}

}  // namespace

TEST_SUITE("problems") {
  TEST_CASE("quadratic samples: (1/n)XᵀX has the spectrum [1, cond]; the instance is seeded; bad sizes refused") {
    auto in = make_instance("quadratic", {{"dim", "6"}, {"n_samples", "48"}, {"cond", "10"}});
    const nlohmann::json d = in.problem->describe();
    REQUIRE(d["n_samples"] == 48);
    CHECK(d["val_rows"] == 48);  // val_rows 0: as many outer rows as samples
    CHECK(in.problem->inner_examples() == 48);
    CHECK(in.problem->outer_examples() == 48);
    const auto x = d["X"].get<std::vector<std::vector<double>>>();
    const int64_t P = 6;
    std::vector<double> a(static_cast<size_t>(P * P), 0.0), shifted(static_cast<size_t>(P * P), 0.0);
    for (const auto& row : x)
      for (int64_t i = 0; i < P; ++i)
        for (int64_t j = 0; j < P; ++j) a[static_cast<size_t>(i * P + j)] += row[static_cast<size_t>(i)] * row[static_cast<size_t>(j)] / 48.0;
    for (int64_t i = 0; i < P; ++i)
      for (int64_t j = 0; j < P; ++j) shifted[static_cast<size_t>(i * P + j)] = (i == j ? 10.0 : 0.0) - a[static_cast<size_t>(i * P + j)];
    const double tol = sizeof(real) == 8 ? 1e-9 : 1e-5;
    CHECK(top_eigenvalue(a, P) == doctest::Approx(10).epsilon(tol));
    CHECK(10 - top_eigenvalue(shifted, P) == doctest::Approx(1).epsilon(tol));
    // Seeded: the same seed gives the same rows, another seed others; the rows are not A itself.
    CHECK(make_instance("quadratic", {{"dim", "6"}, {"n_samples", "48"}}).problem->describe()["X"] == d["X"]);
    const ProblemInfo& info = find_problem("quadratic");
    std::map<std::string, std::string> sets = {{"dim", "6"}, {"n_samples", "48"}};
    CHECK(info.make(Options::resolve("quadratic", info.options, sets), 1)->describe()["X"] != d["X"]);
    std::map<std::string, std::string> few = {{"dim", "6"}, {"n_samples", "5"}};
    CHECK_THROWS_AS(info.make(Options::resolve("quadratic", info.options, few), 0), option_error);
    // Without samples: no per-example inner loss (the full-batch quadratic), its outer rows still sampleable.
    CHECK(make_instance("quadratic", {{"dim", "6"}}).problem->inner_examples() == 0);
  }

  TEST_CASE("quadratic samples: minibatch losses average to the full losses; the full batch is the full loss") {
    auto in = make_instance("quadratic", {{"dim", "5"}, {"n_samples", "40"}, {"val_rows", "24"}});
    const Problem& p = *in.problem;
    Rng rng(3);
    const Tensor theta = rng.normal_tensor(Shape{5});
    const Tensor lambda = rng.normal_tensor(Shape{5}, 0.0, 0.5);
    const ad::Var th = ad::constant(theta), la = ad::constant(lambda);
    const double tol = sizeof(real) == 8 ? 1e-12 : 1e-5;
    const double full_in = p.inner_loss(th, la, in.task).item(), full_out = p.outer_loss(th, la, in.task).item();
    CHECK(p.inner_loss_batch(th, la, in.task, range(0, 40)).item() == doctest::Approx(full_in).epsilon(tol));
    CHECK(p.outer_loss_batch(th, la, in.task, range(0, 24)).item() == doctest::Approx(full_out).epsilon(tol));
    // Disjoint blocks of 8 rows: the mean of the block losses is the full loss (an unbiased estimate under a
    // uniform block), while single blocks differ from it (the noise the stochastic solvers see).
    double in_mean = 0, out_mean = 0, spread = 0;
    for (int64_t j = 0; j < 5; ++j) {
      const double v = p.inner_loss_batch(th, la, in.task, range(8 * j, 8 * j + 8)).item();
      in_mean += v / 5, spread = std::max(spread, std::abs(v - full_in));
    }
    for (int64_t j = 0; j < 3; ++j) out_mean += p.outer_loss_batch(th, la, in.task, range(8 * j, 8 * j + 8)).item() / 3;
    CHECK(in_mean == doctest::Approx(full_in).epsilon(tol));
    CHECK(out_mean == doctest::Approx(full_out).epsilon(tol));
    CHECK(spread > 1e-3 * std::abs(full_in));
  }

#ifdef BILEVEL_DOUBLE
  TEST_CASE("quadratic samples: sampled and minibatch losses match finite differences (first and second order)") {
    auto in = make_instance("quadratic", {{"dim", "5"}, {"n_samples", "30"}});
    const Problem& p = *in.problem;
    Rng rng(5);
    const Tensor theta = rng.normal_tensor(Shape{5});
    const Tensor lambda = rng.normal_tensor(Shape{5}, 0.0, 0.5);
    const std::vector<int64_t> batch = {3, 17, 29, 0};
    using gradcheck::Fn;
    const std::vector<std::pair<const char*, Fn>> fns = {
        {"inner", [&](const std::vector<ad::Var>& v) { return p.inner_loss(v[0], v[1], in.task); }},
        {"inner batch", [&](const std::vector<ad::Var>& v) { return p.inner_loss_batch(v[0], v[1], in.task, batch); }},
        {"outer", [&](const std::vector<ad::Var>& v) { return p.outer_loss(v[0], ad::constant(lambda), in.task) + ad::sum(v[1]) * real(0); }},
        {"outer batch", [&](const std::vector<ad::Var>& v) { return p.outer_loss_batch(v[0], ad::constant(lambda), in.task, batch) + ad::sum(v[1]) * real(0); }},
    };
    for (const auto& [name, f] : fns) {
      CAPTURE(name);
      const gradcheck::Result g = gradcheck::check_gradient(f, {theta, lambda});
      CHECK_MESSAGE(g.ok, g.worst);
      const gradcheck::Result h = gradcheck::check_hvp(f, {theta, lambda});
      CHECK_MESSAGE(h.ok, h.worst);
    }
  }

  TEST_CASE("quadratic samples: closed-form h(λ), ∇h(λ) against an accurate inner solve of the sampled losses") {
    auto in = make_instance("quadratic", {{"dim", "6"}, {"n_samples", "64"}, {"lambda_init", "0.3"}});
    const Problem& p = *in.problem;
    const Metrics m = p.evaluate(in.lambda);
    REQUIRE(m[1].first == "val_loss_star");
    const double g = std::sqrt(norm2(*p.closed_form_ift(in.lambda, in.task)));
    const ValueFunction few = value_function(p, in.lambda, in.task, {.inner_steps = 10});
    const ValueFunction many = value_function(p, in.lambda, in.task, {.inner_steps = 3000});
    MESSAGE("h " << m[1].second << " vs " << many.value << " (10 steps " << few.value << "); |∇h| " << g << " vs "
                 << many.grad_norm);
    CHECK(std::abs(few.value - m[1].second) > 1e-4 * m[1].second);  // a short solve is visibly off
    CHECK(many.value == doctest::Approx(m[1].second).epsilon(1e-11));
    CHECK(many.grad_norm == doctest::Approx(g).epsilon(1e-8));
  }

  TEST_CASE("quadratic: value_star is the minimum of h (gradient descent to convergence; h above it elsewhere)") {
    // Instance 13 of dim 2 (noise 1) has an interior minimum that plain gradient descent with the closed-form
    // hypergradient reaches to |∇h| < 1e-12 (the must-show instance of the single-loop solvers).
    const ProblemInfo& info = find_problem("quadratic");
    std::map<std::string, std::string> sets = {{"dim", "2"}, {"noise", "1"}};
    const auto p = info.make(Options::resolve("quadratic", info.options, sets), 13);
    Rng r0(1);
    const Task task = p->sample_task(r0);
    Tensor lambda(Shape{2});
    for (int i = 0; i < 5000; ++i) axpy(real(-0.5), *p->closed_form_ift(lambda, task), lambda);
    REQUIRE(std::sqrt(norm2(*p->closed_form_ift(lambda, task))) < 1e-12);
    const Metrics m = p->evaluate(lambda);
    REQUIRE(m[2].first == "value_star");
    MESSAGE("value_star " << m[2].second << ", h at the GD limit " << m[1].second);
    CHECK(m[2].second == doctest::Approx(m[1].second).epsilon(1e-12));
    Rng rng(9);
    for (int k = 0; k < 20; ++k) CHECK(p->evaluate(rng.normal_tensor(Shape{2}, 0.0, 2.0))[1].second >= m[2].second);
    // On a sampled instance of the benchmark's size class (smaller here): h never dips below value_star on random λ.
    auto s = make_instance("quadratic", {{"dim", "10"}, {"n_samples", "128"}});
    const double star = s.problem->evaluate(s.lambda)[2].second;
    for (int k = 0; k < 20; ++k) CHECK(s.problem->evaluate(rng.normal_tensor(Shape{10}, 0.0, 2.0))[1].second >= star);
  }
#endif
}

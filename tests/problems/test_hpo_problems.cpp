// hpo-l2 and hyper-cleaning on tiny generated datasets (tests/data/fake_data.hpp): losses against direct
// computations, hypergradients of the estimators against each other (and finite differences in double),
// the corruption and flagging bookkeeping, a few outer steps that must help, and the data errors.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/data_dir.hpp"
#include "data/fake_data.hpp"
#include "hypergrad/estimator.hpp"
#include "problems/problem.hpp"

using namespace bilevel;

// doctest::Contains of a run-time string.
inline doctest::Contains contains(const std::string& s) { return doctest::Contains(s.c_str()); }

namespace {

// One tiny image dataset named "mnist" (4×4 images, 3 classes; 80 training-pool and 30 test examples).
struct TinyData {
  testing::FakeDataDir dir;
  TinyData() {
    dir.add_idx_dataset("mnist", 80, 30, 4, 3, false, 3, 60.0);
    dir.write_manifest();
  }
};

std::unique_ptr<Problem> make_problem(const std::string& name, const TinyData& data,
                                      std::map<std::string, std::string> given) {
  given["data_dir"] = data.dir.dir();
  const ProblemInfo& info = find_problem(name);
  const Options o = Options::resolve(name, info.options, given);
  REQUIRE(given.empty());
  return info.make(o, 5);
}

HypergradResult estimate(const std::string& method, const Problem& p, const Tensor& lambda,
                         std::map<std::string, std::string> sets = {}, uint64_t stream = 0) {
  const MethodInfo& m = find_method(method);
  const Options o = Options::resolve(method, m.options, sets);
  REQUIRE(sets.empty());
  auto est = make_estimator(m, o, p);
  Rng task_rng(1, {2});
  const Task task = p.sample_task(task_rng);
  Rng rng(3, {stream});
  return est->estimate(p, lambda, task, rng);
}

double metric(const Metrics& m, const std::string& key) {
  for (const auto& [k, v] : m)
    if (k == key) return v;
  FAIL("no metric " << key);
  return NAN;
}

double cosine(const Tensor& a, const Tensor& b) { return dot(a, b) / std::sqrt(norm2(a) * norm2(b)); }

// L_V(θ_r(λ)) by plain unrolling (values only).
double unrolled_val_loss(const Problem& p, const Tensor& lambda) {
  Rng task_rng(1, {2});
  const Task task = p.sample_task(task_rng);
  Tensor theta = p.theta0(ad::constant(lambda), task).value();
  for (int64_t j = 0; j < p.inner().steps; ++j) {
    const ad::Var th = ad::leaf(theta);
    axpy(-p.inner().lr, ad::grad(p.inner_loss(th, ad::constant(lambda), task), {th})[0].value(), theta);
  }
  ad::NoGradGuard ng;
  return static_cast<double>(p.outer_loss(ad::constant(theta), ad::constant(lambda), task).item());
}

std::vector<int64_t> corrupted_examples(const Problem& p) {
  return p.describe()["corrupted_examples"].get<std::vector<int64_t>>();
}

}  // namespace

TEST_SUITE("problems") {
  TEST_CASE("hpo-l2: dimensions, losses and the SGLD structure hooks") {
    TinyData data;
    auto p = make_problem("hpo-l2", data, {{"n_train", "40"}, {"n_val", "30"}, {"inner_steps", "10"}});
    CHECK(p->theta_dim() == 17 * 3);
    CHECK(p->lambda_dim() == p->theta_dim());
    CHECK(p->inner_examples() == 40);
    CHECK(p->mixed_partial_diagonal());
    Rng r(1);
    const Tensor lambda = p->init_lambda(r);
    CHECK(lambda[0] == doctest::Approx(-4.6));
    const Task task = p->sample_task(r);
    const Tensor theta = r.normal_tensor(Shape{p->theta_dim()});
    // The penalty is ½ Σ exp(λ) θ²: the inner loss minus the data term (λ → −∞) equals it.
    Tensor very_small(lambda.shape(), real(-60));
    const double with = p->inner_loss(ad::constant(theta), ad::constant(lambda), task).item();
    const double without = p->inner_loss(ad::constant(theta), ad::constant(very_small), task).item();
    CHECK(with - without == doctest::Approx(0.5 * std::exp(-4.6) * norm2(theta)).epsilon(1e-3));
    // The full batch reproduces inner_loss.
    std::vector<int64_t> all(40);
    for (int64_t i = 0; i < 40; ++i) all[static_cast<size_t>(i)] = i;
    CHECK(p->inner_loss_batch(ad::constant(theta), ad::constant(lambda), task, all).item() ==
          doctest::Approx(with).epsilon(1e-5));
    auto scalar = make_problem("hpo-l2", data, {{"n_train", "40"}, {"n_val", "30"}, {"decay", "scalar"}});
    CHECK(scalar->lambda_dim() == 1);
    CHECK_FALSE(scalar->mixed_partial_diagonal());
    auto mlp = make_problem("hpo-l2", data, {{"n_train", "40"}, {"n_val", "30"}, {"model", "mlp"}, {"hidden", "5"}});
    CHECK(mlp->theta_dim() == (16 + 1) * 5 + (5 + 1) * 3);
  }

  TEST_CASE("hpo-l2: estimators agree where they should; FO's hypergradient vanishes (λ is not in L_V)") {
    TinyData data;
    auto p = make_problem("hpo-l2", data,
                          {{"n_train", "40"}, {"n_val", "30"}, {"inner_steps", "12"}, {"lambda_init", "-1"}});
    Rng r(2);
    const Tensor lambda = add(p->init_lambda(r), r.normal_tensor(Shape{p->lambda_dim()}, 0, 0.5));
    const Tensor g_exact = estimate("exact", *p, lambda).grad;
    REQUIRE(norm2(g_exact) > 0);
    // Forward mode computes the same r-step hypergradient (P·H = 51² is small enough here).
    CHECK(max_abs_diff(estimate("fmd", *p, lambda).grad, g_exact) <= 1e-4 * std::sqrt(norm2(g_exact)) + 1e-7);
    CHECK(max_abs_diff(estimate("tbptt", *p, lambda, {{"k", "12"}}).grad, g_exact) == 0.0);
    CHECK(norm2(estimate("fo", *p, lambda).grad) == 0.0);
    // UFO with q = 1 always takes the exact branch.
    CHECK(max_abs_diff(estimate("ufo", *p, lambda, {{"q", "1"}}).grad, g_exact) <= 1e-5 * std::sqrt(norm2(g_exact)));
    // Truncation and implicit differentiation approximate it (12 steps are far from θ*, so only roughly).
    CHECK(cosine(estimate("tbptt", *p, lambda, {{"k", "6"}}).grad, g_exact) > 0.5);
    for (const char* m : {"ift-cg", "ift-neumann"}) {
      CAPTURE(m);
      const Tensor g = estimate(m, *p, lambda).grad;
      CHECK(g.all_finite());
      CHECK(norm2(g) > 0);
    }
#ifdef BILEVEL_DOUBLE
    // Exact against central differences of the unrolled validation loss along a random direction.
    const Tensor u = r.normal_tensor(lambda.shape());
    const double eps = 1e-5;
    const double fd = (unrolled_val_loss(*p, add(lambda, scaled(u, eps))) -
                       unrolled_val_loss(*p, sub(lambda, scaled(u, eps)))) / (2 * eps);
    CHECK(dot(g_exact, u) == doctest::Approx(fd).epsilon(1e-5));
#endif
  }

  TEST_CASE("hpo-l2: outer steps with the exact hypergradient lower the validation loss") {
    TinyData data;
    auto p = make_problem("hpo-l2", data, {{"n_train", "40"}, {"n_val", "30"}, {"inner_steps", "20"}});
    Rng r(3);
    Tensor lambda = p->init_lambda(r);
    const double before = metric(p->evaluate(lambda), "val_loss");
    CHECK(before == doctest::Approx(unrolled_val_loss(*p, lambda)).epsilon(1e-5));
    for (int step = 0; step < 15; ++step) {
      const Tensor g = estimate("exact", *p, lambda).grad;
      axpy(real(-0.5) / static_cast<real>(std::sqrt(norm2(g)) + 1e-12), g, lambda);  // normalised steps
    }
    const Metrics after = p->evaluate(lambda);
    CHECK(metric(after, "val_loss") < before);
    CHECK(metric(after, "test_acc") > 0.5);  // three separable-ish classes: far above chance
  }

  TEST_CASE("hyper-cleaning: corruption, losses, flagging metrics and baselines") {
    TinyData data;
    auto p = make_problem("hyper-cleaning", data,
                          {{"n_train", "40"}, {"n_val", "30"}, {"inner_steps", "30"}, {"corruption", "0.5"}});
    CHECK(p->lambda_dim() == 40);
    CHECK(p->theta_dim() == 17 * 3);
    CHECK(p->inner_examples() == 40);
    CHECK_FALSE(p->mixed_partial_diagonal());
    const std::vector<int64_t> bad = corrupted_examples(*p);
    CHECK(bad.size() == 20u);  // exactly round(0.5 · 40)
    CHECK(p->describe()["corrupted"] == 20);

    Rng r(4);
    const Tensor lambda0 = p->init_lambda(r);
    const Metrics m0 = p->evaluate(lambda0);
    CHECK(metric(m0, "flagged_frac") == 0.0);  // σ(0) = ½ is not < ½
    CHECK(metric(m0, "f1") == 0.0);
    CHECK(metric(m0, "weight_clean") == doctest::Approx(0.5));
    // The oracle weights: +8 on clean examples, −8 on corrupted ones.
    Tensor oracle(lambda0.shape(), real(8));
    for (int64_t i : bad) oracle[i] = real(-8);
    const Metrics mo = p->evaluate(oracle);
    CHECK(metric(mo, "precision") == 1.0);
    CHECK(metric(mo, "recall") == 1.0);
    CHECK(metric(mo, "f1") == 1.0);
    CHECK(metric(mo, "weight_corrupted") < 0.001);
    // Baselines are λ-independent and the clean-only oracle beats training on the corrupted labels.
    CHECK(metric(mo, "uniform_test_acc") == metric(m0, "uniform_test_acc"));
    CHECK(metric(m0, "oracle_test_acc") >= metric(m0, "uniform_test_acc"));
    CHECK(metric(mo, "val_loss") < metric(m0, "val_loss"));
    // Flagging everything: recall 1, precision ½.
    const Metrics ma = p->evaluate(Tensor(lambda0.shape(), real(-1)));
    CHECK(metric(ma, "recall") == 1.0);
    CHECK(metric(ma, "precision") == doctest::Approx(0.5));

    // Minibatch hook: the full batch reproduces inner_loss.
    const Task task = p->sample_task(r);
    const Tensor theta = r.normal_tensor(Shape{p->theta_dim()}, 0, 0.1);
    std::vector<int64_t> all(40);
    for (int64_t i = 0; i < 40; ++i) all[static_cast<size_t>(i)] = i;
    CHECK(p->inner_loss_batch(ad::constant(theta), ad::constant(oracle), task, all).item() ==
          doctest::Approx(p->inner_loss(ad::constant(theta), ad::constant(oracle), task).item()).epsilon(1e-5));
  }

  TEST_CASE("hyper-cleaning: the hypergradient pushes corrupted examples' weights down, and outer steps find them") {
    TinyData data;
    auto p = make_problem("hyper-cleaning", data, {{"n_train", "40"}, {"n_val", "30"}, {"inner_steps", "30"}});
    const std::vector<int64_t> bad_list = corrupted_examples(*p);
    std::vector<bool> bad(40, false);
    for (int64_t i : bad_list) bad[static_cast<size_t>(i)] = true;
    Rng r(5);
    Tensor lambda = p->init_lambda(r);
    const Tensor g = estimate("exact", *p, lambda).grad;
    double g_bad = 0, g_clean = 0;
    for (int64_t i = 0; i < 40; ++i) (bad[static_cast<size_t>(i)] ? g_bad : g_clean) += g[i] / 20.0;
    CHECK(g_bad > 0);      // raising a corrupted example's weight raises the validation loss
    CHECK(g_clean < 0);
    CHECK(norm2(estimate("fo", *p, lambda).grad) == 0.0);
    CHECK(cosine(estimate("ift-cg", *p, lambda, {{"cg_iters", "30"}}).grad, g) > 0.3);
    CHECK(cosine(estimate("tbptt", *p, lambda, {{"k", "10"}}).grad, g) > 0.5);
    for (int step = 0; step < 20; ++step) {
      const Tensor gs = estimate("exact", *p, lambda).grad;
      for (int64_t i = 0; i < 40; ++i) lambda[i] -= real(0.3) * (gs[i] > 0 ? real(1) : (gs[i] < 0 ? real(-1) : real(0)));
    }
    const Metrics m = p->evaluate(lambda);
    CHECK(metric(m, "f1") > 0.7);
  }

  TEST_CASE("hpo problems: outer minibatches over every validation row give the outer loss and its gradient, and equal blocks average to them") {
    TinyData data;
    const double tol = sizeof(real) == 8 ? 1e-12 : 2e-5;
    for (const std::string name : {"hpo-l2", "hyper-cleaning"}) {
      CAPTURE(name);
      auto p = make_problem(name, data, {{"n_train", "40"}, {"n_val", "30"}, {"inner_steps", "5"}});
      REQUIRE(p->outer_examples() == 30);
      Rng r(6);
      const Tensor lambda = r.normal_tensor(Shape{p->lambda_dim()});
      const Task task = p->sample_task(r);
      const Tensor theta = r.normal_tensor(Shape{p->theta_dim()}, 0, 0.3);
      // Value and ∇_θ of a loss built from a leaf θ.
      auto value_grad = [&](auto&& loss) {
        const ad::Var th = ad::leaf(theta);
        const ad::Var l = loss(th);
        return std::pair<double, Tensor>{static_cast<double>(l.item()), ad::grad(l, {th})[0].value()};
      };
      const auto [full, full_g] = value_grad([&](const ad::Var& th) { return p->outer_loss(th, ad::constant(lambda), task); });
      // Every row, in a scrambled order: the full loss.
      std::vector<int64_t> all(30);
      for (int64_t i = 0; i < 30; ++i) all[static_cast<size_t>(i)] = (7 * i + 3) % 30;
      const auto [whole, whole_g] =
          value_grad([&](const ad::Var& th) { return p->outer_loss_batch(th, ad::constant(lambda), task, all); });
      CHECK(whole == doctest::Approx(full).epsilon(tol));
      Tensor diff = whole_g;
      axpy(real(-1), full_g, diff);
      CHECK(std::sqrt(norm2(diff)) <= tol * (1 + std::sqrt(norm2(full_g))));
      // Three disjoint blocks of ten: their mean is the full loss (the batch loss is a mean over its rows, so a
      // uniform batch estimates L_V without bias), for the value and for ∇_θ.
      double mean = 0;
      Tensor mean_g(full_g.shape(), real(0));
      for (int64_t b = 0; b < 3; ++b) {
        std::vector<int64_t> block;
        for (int64_t i = 0; i < 10; ++i) block.push_back(3 * i + b);
        const auto [v, g] = value_grad([&](const ad::Var& th) { return p->outer_loss_batch(th, ad::constant(lambda), task, block); });
        CHECK(std::abs(v - full) > 1e-6 * std::abs(full));  // a block alone is not the full loss
        mean += v / 3;
        axpy(real(1) / 3, g, mean_g);
      }
      CHECK(mean == doctest::Approx(full).epsilon(tol));
      axpy(real(-1), full_g, mean_g);
      CHECK(std::sqrt(norm2(mean_g)) <= tol * (1 + std::sqrt(norm2(full_g))));
    }
  }

  TEST_CASE("hpo problems: forward mode is refused at full size, with the reason") {
    TinyData data;
    auto p = make_problem("hyper-cleaning", data, {{"n_train", "40"}, {"n_val", "30"}, {"inner_steps", "3"}});
    const MethodInfo& m = find_method("fmd");
    std::map<std::string, std::string> sets{{"fmd_max_entries", "1000"}};  // P·H = 51·40 = 2040
    const Options o = Options::resolve("fmd", m.options, sets);
    CHECK_THROWS_WITH_AS(make_estimator(m, o, *p), doctest::Contains("fmd_max_entries"), option_error);
  }

  TEST_CASE("hpo problems: missing or damaged data and too-small pools are clear errors") {
    TinyData data;
    for (const char* name : {"hpo-l2", "hyper-cleaning"}) {
      CAPTURE(name);
      std::map<std::string, std::string> given{{"data_dir", data.dir.path("empty")}};
      std::filesystem::create_directories(data.dir.path("empty"));
      const ProblemInfo& info = find_problem(name);
      const Options o = Options::resolve(name, info.options, given);
      // No manifest beside an empty directory: the repository's manifest names the real MNIST files.
      CHECK_THROWS_WITH_AS(info.make(o, 0), doctest::Contains("mnist/train-images-idx3-ubyte: missing (expected 47040016 bytes)"),
                           data::data_error);
      CHECK_THROWS_WITH_AS(info.make(o, 0), contains("make data DATA_DIR=" + data.dir.path("empty")),
                           data::data_error);
      CHECK_THROWS_WITH_AS(make_problem(name, data, {{"n_train", "70"}, {"n_val", "30"}}),
                           doctest::Contains("80 examples in its training pool, fewer than n_train + n_val = 70 + 30"),
                           option_error);
    }
    data.dir.truncate("mnist/train-images-idx3-ubyte", 300);
    CHECK_THROWS_WITH_AS(make_problem("hyper-cleaning", data, {{"n_train", "40"}, {"n_val", "30"}}),
                         doctest::Contains("train-images-idx3-ubyte: truncated: 300 bytes"), data::data_error);
  }
}

#pragma once
// Shared by the application problems' tests (loss-learning, invariance-learning, inr): a tiny generated data
// folder, building a problem from option strings, one estimate on the task of a fixed stream, the unrolled outer loss on that task, and the check
// of the exact hypergradient against central differences of it.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "data/fake_data.hpp"
#include "hypergrad/estimator.hpp"
#include "problems/problem.hpp"

namespace bilevel::testing {

inline std::unique_ptr<Problem> make_app_problem(const std::string& name, std::map<std::string, std::string> given,
                                                 uint64_t seed = 5) {
  const ProblemInfo& info = find_problem(name);
  const Options o = Options::resolve(name, info.options, given);
  REQUIRE(given.empty());
  return info.make(o, seed);
}

// A data folder holding a tiny generated "mnist" (3 classes of side × side images) and its manifest.
struct TinyMnist {
  FakeDataDir dir;
  TinyMnist(int64_t n_train, int64_t n_test, int64_t side) {
    dir.add_idx_dataset("mnist", n_train, n_test, side, 3, false, 3, 60.0);
    dir.write_manifest();
  }
};

// make_app_problem on the folder `d`, with `defaults` for the options `given` leaves unset.
inline std::unique_ptr<Problem> make_app_problem_on(const std::string& name, const TinyMnist& d,
                                                    std::map<std::string, std::string> given,
                                                    const std::map<std::string, std::string>& defaults = {}) {
  given["data_dir"] = d.dir.dir();
  for (const auto& [key, value] : defaults) given.emplace(key, value);
  return make_app_problem(name, given);
}

// The task every helper here uses: the first draw of stream (1, 2).
inline Task app_task(const Problem& p) {
  Rng task_rng(1, {2});
  return p.sample_task(task_rng);
}

inline HypergradResult estimate_app(const std::string& method, const Problem& p, const Tensor& lambda,
                                    std::map<std::string, std::string> sets = {}) {
  const MethodInfo& m = find_method(method);
  const Options o = Options::resolve(method, m.options, sets);
  REQUIRE(sets.empty());
  auto est = make_estimator(m, o, p);
  Rng rng(3, {0});
  return est->estimate(p, lambda, app_task(p), rng);
}

inline double metric_of(const Metrics& m, const std::string& key) {
  for (const auto& [k, v] : m)
    if (k == key) return v;
  FAIL("no metric " << key);
  return NAN;
}

// L_V(θ_r(λ), λ) on app_task by plain unrolling (values only).
inline double unrolled_outer_loss(const Problem& p, const Tensor& lambda) {
  const Task task = app_task(p);
  Tensor theta = p.theta0(ad::constant(lambda), task).value();
  for (int64_t j = 0; j < p.inner().steps; ++j) {
    const ad::Var th = ad::leaf(theta);
    axpy(-p.inner().lr, ad::grad(p.inner_loss(th, ad::constant(lambda), task), {th})[0].value(), theta);
  }
  ad::NoGradGuard ng;
  return static_cast<double>(p.outer_loss(ad::constant(theta), ad::constant(lambda), task).item());
}

// The exact hypergradient against central differences of unrolled_outer_loss: along every coordinate when λ is
// small (≤ 16), and along two random directions always. Relative tolerance `tol` (double build).
inline void check_exact_against_fd(const Problem& p, const Tensor& lambda, const Tensor& g_exact, double tol,
                                   double eps = 1e-5) {
  const auto fd_along = [&](const Tensor& u) {
    return (unrolled_outer_loss(p, add(lambda, scaled(u, static_cast<real>(eps)))) -
            unrolled_outer_loss(p, sub(lambda, scaled(u, static_cast<real>(eps))))) / (2 * eps);
  };
  const double scale = std::sqrt(norm2(g_exact));
  if (lambda.numel() <= 16) {
    for (int64_t i = 0; i < lambda.numel(); ++i) {
      Tensor e(lambda.shape());
      e[i] = 1;
      CAPTURE(i);
      CHECK(std::abs(static_cast<double>(g_exact[i]) - fd_along(e)) <= tol * scale);
    }
  }
  Rng r(11);
  for (int k = 0; k < 2; ++k) {
    const Tensor u = r.normal_tensor(lambda.shape());
    CHECK(dot(g_exact, u) == doctest::Approx(fd_along(u)).epsilon(tol));
  }
}

}  // namespace bilevel::testing

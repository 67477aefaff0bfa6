// Tests of the built-in problems: losses vs finite differences, closed forms vs independent
// computations, the UFOM toy constants (UFOM paper, Likhosherstov et al. 2021), sinusoid tasks and evaluation.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "autodiff/functional.hpp"
#include "autodiff/ops.hpp"
#include "problems/problem.hpp"
#include "problems/ufo_toy.hpp"

using namespace bilevel;

namespace {

std::unique_ptr<Problem> make_problem(const std::string& name, std::map<std::string, std::string> given = {},
                                      uint64_t seed = 7) {
  const ProblemInfo& info = find_problem(name);
  const Options o = Options::resolve(name, info.options, given);
  REQUIRE(given.empty());
  return info.make(o, seed);
}

std::vector<double> json_vec(const nlohmann::json& j) { return j.get<std::vector<double>>(); }
std::vector<std::vector<double>> json_mat(const nlohmann::json& j) {
  return j.get<std::vector<std::vector<double>>>();
}

// The r-step unrolled hypergradient by reverse mode through the Problem's own losses:
// θ₀ = theta0(λ), θ_{j+1} = θ_j − α∇_θL_T (graph kept), then ∇_λ L_V(θ_r). θ₀ that does not depend on
// λ is made a separate leaf (its derivative is zero anyway).
Tensor autodiff_unrolled(const Problem& p, const Tensor& lambda, const Task& task) {
  const ad::Var lam = ad::leaf(lambda);
  ad::Var theta = p.theta0(lam, task);
  if (!theta.requires_grad()) theta = ad::leaf(theta.value());
  const InnerConfig in = p.inner();
  for (int64_t j = 0; j < in.steps; ++j) {
    const ad::Var g = ad::grad(p.inner_loss(theta, lam, task), {theta}, true)[0];
    theta = theta - g * in.lr;
  }
  return ad::grad(p.outer_loss(theta, lam, task), {lam})[0].value();
}

// max_i |a_i − b_i| / (abs_floor + |b_i|)
double rel_err(const Tensor& a, const std::vector<double>& b, double abs_floor) {
  double e = 0;
  for (size_t i = 0; i < b.size(); ++i)
    e = std::max(e, std::abs(static_cast<double>(a[static_cast<int64_t>(i)]) - b[i]) / (abs_floor + std::abs(b[i])));
  return e;
}
std::vector<double> doubles(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(static_cast<double>(t[i]));
  return v;
}

// Quadratic rollout in double from the described instance: θ_r and L_V(θ_r).
double quadratic_unrolled_val_loss(const nlohmann::json& d, const std::vector<double>& lam, int64_t steps,
                                   double lr) {
  const auto A = json_mat(d["A"]);
  const auto C = json_mat(d["C"]);
  const auto b = json_vec(d["b"]), dd = json_vec(d["d"]);
  std::vector<double> th = json_vec(d["theta0"]);
  const size_t n = th.size();
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<double> g(n);
    for (size_t i = 0; i < n; ++i) {
      double v = std::exp(lam[i]) * th[i] - b[i];
      for (size_t j = 0; j < n; ++j) v += A[i][j] * th[j];
      g[i] = v;
    }
    for (size_t i = 0; i < n; ++i) th[i] -= lr * g[i];
  }
  double loss = 0;
  for (size_t k = 0; k < C.size(); ++k) {
    double r = -dd[k];
    for (size_t j = 0; j < n; ++j) r += C[k][j] * th[j];
    loss += 0.5 * r * r;
  }
  return loss;
}

#ifdef BILEVEL_DOUBLE
// Directional finite-difference check of ∇f and of ∇²f·v at x, for random directions.
void check_grad_and_hvp(const ad::ScalarFn& f, const Tensor& x, uint64_t seed) {
  Rng rng(seed);
  const double h = 1e-5;
  const Tensor g = ad::gradient(f, x);
  for (int rep = 0; rep < 3; ++rep) {
    const Tensor v = rng.normal_tensor(x.shape());
    const auto value_at = [&](double t) {
      Tensor y = x;
      axpy(t, v, y);
      ad::NoGradGuard ng;
      return f(ad::constant(y)).item();
    };
    const double fd = (value_at(h) - value_at(-h)) / (2 * h);
    CHECK(dot(g, v) == doctest::Approx(fd).epsilon(1e-6));
    // ∇²f·v vs (∇f(x + hv) − ∇f(x − hv)) / 2h
    const Tensor hv = ad::hvp(f, x, v);
    Tensor xp = x, xm = x;
    axpy(h, v, xp);
    axpy(-h, v, xm);
    const Tensor fd_hv = scaled(sub(ad::gradient(f, xp), ad::gradient(f, xm)), 1 / (2 * h));
    CHECK(max_abs_diff(hv, fd_hv) < 1e-5 * (1 + std::sqrt(norm2(fd_hv))));
  }
}
#endif

}  // namespace

TEST_SUITE("problems") {

TEST_CASE("registry: every problem that needs no data files resolves its defaults; bad values are refused") {
  std::set<std::string> seen;
  int64_t built = 0;
  for (const ProblemInfo& info : problem_registry()) {
    const std::string name = info.name;
    CAPTURE(name);
    CHECK(seen.insert(name).second);  // names are unique
    CHECK(&find_problem(name) == &info);
    bool needs_data = false;
    for (const auto& spec : info.options) needs_data = needs_data || spec.key == "data_dir";
    if (needs_data) continue;  // hpo-l2, hyper-cleaning: tests/problems/test_hpo_problems.cpp
    ++built;
    CHECK(!info.description.empty());
    const auto p = make_problem(name);
    CHECK(p->name() == name);
    CHECK(p->inner().steps >= 1);
    Rng rng(3);
    CHECK(p->init_lambda(rng).numel() == p->lambda_dim());
  }
  CHECK(built >= 6);
  auto bad = [](const std::string& name, std::map<std::string, std::string> given) {
    const ProblemInfo& info = find_problem(name);
    CHECK_THROWS_AS(info.make(Options::resolve(name, info.options, given), 1), option_error);
  };
  bad("quadratic", {{"dim", "0"}});
  bad("quadratic", {{"theta0", "ones"}});
  bad("quadratic", {{"inner_lr", "0.5"}});  // 0.5·(10 + 1) ≥ 2: unstable unroll
  bad("ufo-counterexample", {{"a1", "2"}});  // a1 > a2
  bad("ufo-counterexample", {{"inner_lr", "0.9"}});  // α·a2 ≥ 1
  bad("ufo-qcurve", {{"x0_min", "60"}});
  bad("sinusoid", {{"k_shot", "0"}});
  bad("sinusoid", {{"inner_lr", "-1"}});
}

// ---- quadratic ----------------------------------------------------------------------------------------

TEST_CASE("quadratic: instance is seeded, SPD with the requested spectrum") {
  const auto p = make_problem("quadratic", {{"dim", "6"}, {"cond", "50"}, {"inner_lr", "0.02"}});
  const auto q = make_problem("quadratic", {{"dim", "6"}, {"cond", "50"}, {"inner_lr", "0.02"}});
  CHECK(p->describe() == q->describe());
  CHECK(p->describe() != make_problem("quadratic", {{"dim", "6"}, {"cond", "50"}, {"inner_lr", "0.02"}}, 8)->describe());
  const nlohmann::json d = p->describe();
  const auto A = json_mat(d["A"]);
  REQUIRE(A.size() == 6);
  // trace = Σ eigenvalues, symmetric
  double tr = 0, eig_sum = 0;
  for (size_t i = 0; i < 6; ++i) {
    tr += A[i][i];
    for (size_t j = 0; j < 6; ++j) CHECK(A[i][j] == A[j][i]);
  }
  for (double e : json_vec(d["eigenvalues"])) eig_sum += e;
  CHECK(tr == doctest::Approx(eig_sum).epsilon(1e-5));
  CHECK(json_vec(d["eigenvalues"]).front() == doctest::Approx(1));
  CHECK(json_vec(d["eigenvalues"]).back() == doctest::Approx(50));
  Rng rng(1);
  const Task t = p->sample_task(rng);
  CHECK(doubles(t.theta_init) == json_vec(d["theta0"]));
  const auto z = make_problem("quadratic", {{"theta0", "zeros"}, {"val_rows", "4"}});
  CHECK(norm2(z->sample_task(rng).theta_init) == 0);
  CHECK(json_mat(z->describe()["C"]).size() == 4);
}

#ifdef BILEVEL_DOUBLE
TEST_CASE("quadratic: inner and outer losses match finite differences (first and second order)") {
  const auto p = make_problem("quadratic", {{"dim", "5"}});
  Rng rng(11), trng(0);
  const Task task = p->sample_task(trng);
  const Tensor theta = rng.normal_tensor(Shape{5});
  const Tensor lambda = rng.normal_tensor(Shape{5}, 0.0, 0.5);
  SUBCASE("inner in θ") {
    check_grad_and_hvp([&](const ad::Var& th) { return p->inner_loss(th, ad::constant(lambda), task); }, theta, 1);
  }
  SUBCASE("inner in λ") {
    check_grad_and_hvp([&](const ad::Var& la) { return p->inner_loss(ad::constant(theta), la, task); }, lambda, 2);
  }
  SUBCASE("outer in θ") {
    check_grad_and_hvp([&](const ad::Var& th) { return p->outer_loss(th, ad::constant(lambda), task); }, theta, 3);
  }
}
#endif

TEST_CASE("quadratic: closed_form_unrolled matches finite differences of the r-step outer loss") {
  const auto p = make_problem("quadratic", {{"dim", "6"}, {"val_rows", "4"}});
  const nlohmann::json d = p->describe();
  Rng rng(5);
  const Task task = p->sample_task(rng);
  std::vector<double> lam(6);
  for (auto& v : lam) v = static_cast<real>(0.5 * rng.normal());  // representable in real
  Tensor lambda(Shape{6});
  for (int64_t i = 0; i < 6; ++i) lambda[i] = static_cast<real>(lam[static_cast<size_t>(i)]);
  const Tensor cf = *p->closed_form_unrolled(lambda, task);
  const int64_t r = p->inner().steps;
  const double lr = static_cast<double>(p->inner().lr);
  std::vector<double> fd(6);
  const double h = 1e-5;
  for (size_t i = 0; i < 6; ++i) {
    std::vector<double> lp = lam, lm = lam;
    lp[i] += h;
    lm[i] -= h;
    fd[i] = (quadratic_unrolled_val_loss(d, lp, r, lr) - quadratic_unrolled_val_loss(d, lm, r, lr)) / (2 * h);
  }
  CHECK(rel_err(cf, fd, 1e-3) < 1e-5);
  // evaluate's val_loss is the same rollout
  const Metrics m = p->evaluate(lambda);
  CHECK(m[0].first == "val_loss");
  CHECK(m[0].second == doctest::Approx(quadratic_unrolled_val_loss(d, lam, r, lr)).epsilon(1e-6));
  // diagnostics' hypergrad_norm_exact is the norm of the closed form
  const Metrics dg = p->diagnostics(lambda);
  CHECK(dg[0].first == "hypergrad_norm_exact");
  CHECK(dg[0].second == doctest::Approx(std::sqrt(norm2(cf))).epsilon(1e-5));
}

TEST_CASE("quadratic: closed_form_unrolled converges to closed_form_ift for large r") {
  Rng rng(9);
  Tensor lambda = rng.normal_tensor(Shape{8}, 0.0, 0.5);
  const auto short_run = make_problem("quadratic", {{"dim", "8"}, {"inner_steps", "20"}});
  const auto long_run = make_problem("quadratic", {{"dim", "8"}, {"inner_steps", "600"}});
  const Task ts = short_run->sample_task(rng), tl = long_run->sample_task(rng);
  const std::vector<double> ift = doubles(*long_run->closed_form_ift(lambda, tl));
  CHECK(doubles(*short_run->closed_form_ift(lambda, ts)) == ift);  // same instance
  CHECK(rel_err(*long_run->closed_form_unrolled(lambda, tl), ift, 1e-3) < 1e-4);
  CHECK(rel_err(*short_run->closed_form_unrolled(lambda, ts), ift, 1e-3) > 1e-3);  // r = 20 is not converged
  // θ_r → θ*: theta_dist vanishes, and val_loss → val_loss_star
  CHECK(long_run->diagnostics(lambda)[1].second < 1e-5);
  CHECK(short_run->diagnostics(lambda)[1].second > 1e-3);
  const Metrics m = long_run->evaluate(lambda);
  CHECK(m[1].first == "val_loss_star");
  CHECK(m[0].second == doctest::Approx(m[1].second).epsilon(1e-5));
}

TEST_CASE("quadratic: reverse mode through the problem's losses reproduces the closed form") {
  const auto p = make_problem("quadratic", {{"dim", "5"}, {"inner_steps", "12"}});
  Rng rng(4);
  const Task task = p->sample_task(rng);
  const Tensor lambda = rng.normal_tensor(Shape{5}, 0.0, 0.5);
  const Tensor ad_g = autodiff_unrolled(*p, lambda, task);
  const double tol = sizeof(real) == 8 ? 1e-9 : 1e-3;
  CHECK(rel_err(ad_g, doubles(*p->closed_form_unrolled(lambda, task)), 1e-2) < tol);
}

// ---- UFOM toys ----------------------------------------------------------------------------------------

TEST_CASE("ufo toy: f is C² across its region boundaries, f' and f'' are its derivatives") {
  const double a = 1.5, b = 17.4, A = 12.6, c = b / a;
  using ufo_toy::f;
  using ufo_toy::f_d1;
  using ufo_toy::f_d2;
  const double eps = 1e-9;
  for (const double edge : {c + A, c - A, c + A + 1, c - A - 1}) {
    CAPTURE(edge);
    CHECK(f(edge - eps, a, b, A) == doctest::Approx(f(edge + eps, a, b, A)).epsilon(1e-8));
    CHECK(f_d1(edge - eps, a, b, A) == doctest::Approx(f_d1(edge + eps, a, b, A)).epsilon(1e-7));
    CHECK(std::abs(f_d2(edge - eps, a, b, A) - f_d2(edge + eps, a, b, A)) < 1e-7);
  }
  const double h = 1e-6;
  for (const double phi : {c + 3.0, c - 5.0, c + A + 0.3, c - A - 0.7, c + A + 4.0, c - A - 9.0}) {
    CAPTURE(phi);
    CHECK(f_d1(phi, a, b, A) == doctest::Approx((f(phi + h, a, b, A) - f(phi - h, a, b, A)) / (2 * h)).epsilon(1e-6));
    CHECK(f_d2(phi, a, b, A) ==
          doctest::Approx((f_d1(phi + h, a, b, A) - f_d1(phi - h, a, b, A)) / (2 * h)).epsilon(1e-6));
  }
}

TEST_CASE("ufo toy: the autodiff loss has f's value, gradient and curvature in every region") {
  const auto p = make_problem("ufo-counterexample");
  const nlohmann::json d = p->describe();
  const double A = d["A"];
  const double tol = sizeof(real) == 8 ? 1e-10 : 1e-4;
  for (int64_t id = 0; id < 2; ++id) {
    const double a = d["tasks"][id]["a"], b = d["tasks"][id]["b"], c = b / a;
    Task task;
    task.id = id;
    const ad::ScalarFn loss = [&](const ad::Var& th) { return p->inner_loss(th, ad::Var(), task); };
    for (const double off : {0.3, -4.0, A + 0.25, -(A + 0.75), A + 3.0, -(A + 8.0)}) {
      const double phi = static_cast<double>(static_cast<real>(c + off));
      CAPTURE(id);
      CAPTURE(phi);
      const Tensor x = Tensor::vector({static_cast<real>(phi)});
      const double scale = 1 + std::abs(ufo_toy::f(phi, a, b, A));
      CHECK(std::abs(static_cast<double>(loss(ad::constant(x)).item()) - ufo_toy::f(phi, a, b, A)) < tol * scale);
      CHECK(std::abs(static_cast<double>(ad::gradient(loss, x)[0]) - ufo_toy::f_d1(phi, a, b, A)) <
            tol * (1 + std::abs(ufo_toy::f_d1(phi, a, b, A))));
      CHECK(std::abs(static_cast<double>(ad::hvp(loss, x, Tensor::vector({1}))[0]) - ufo_toy::f_d2(phi, a, b, A)) <
            tol * (1 + a));
    }
  }
}

TEST_CASE("ufo-counterexample: the §3.2 constants") {
  const ufo_toy::Family fam = ufo_toy::counterexample_family(10, 0.1, 0.5, 1.5, 0.06);
  CHECK(fam.p1 == doctest::Approx(0.598737).epsilon(2e-6));
  CHECK(fam.p2 == doctest::Approx(0.196874).epsilon(2e-6));
  CHECK(fam.K == doctest::Approx(0.0398281).epsilon(2e-6));
  CHECK(fam.b2 == doctest::Approx(17.39527).epsilon(2e-6));
  CHECK(fam.c2 == doctest::Approx(11.59685).epsilon(2e-6));
  CHECK(fam.A == doctest::Approx(12.59685).epsilon(2e-6));
  CHECK(fam.theta_fo == doctest::Approx(5.758867).epsilon(2e-7));
  CHECK(fam.dM_at_theta_fo == doctest::Approx(0.346410).epsilon(2e-6));
  CHECK(fam.dM_at_theta_fo == doctest::Approx(std::sqrt(2 * 0.06)).epsilon(1e-12));
  CHECK(fam.theta_star == doctest::Approx(2.840282).epsilon(2e-7));

  // The same fixed points from the general r-step formulas (any region), not the quadratic-zone algebra.
  const ufo_toy::Params p = ufo_toy::counterexample_params(10, 0.1, 0.5, 1.5, 0.06);
  const auto g0 = ufo_toy::task_grads(p, 0, fam.theta_fo), g1 = ufo_toy::task_grads(p, 1, fam.theta_fo);
  CHECK(std::abs(0.5 * (g0.g_fo + g1.g_fo)) < 1e-12);  // FOM's mean gradient vanishes at θ_FO …
  CHECK(ufo_toy::objective_grad(p, fam.theta_fo) == doctest::Approx(0.346410).epsilon(2e-6));  // … M' does not
  CHECK(std::abs(ufo_toy::objective_grad(p, fam.theta_star)) < 1e-12);
  // M' is the derivative of M
  for (const double th : {-8.0, 2.0, 5.758867, 13.3, 27.0}) {
    const double h = 1e-6;
    CHECK(ufo_toy::objective_grad(p, th) ==
          doctest::Approx((ufo_toy::objective(p, th + h) - ufo_toy::objective(p, th - h)) / (2 * h)).epsilon(1e-6));
  }

  // Through the Problem: diagnostics and evaluate at λ = θ_FO, and the per-task closed form.
  const auto prob = make_problem("ufo-counterexample");
  CHECK(prob->theta0_is_lambda());
  CHECK(!prob->lambda_in_inner_loss());
  const Tensor lam = Tensor::vector({static_cast<real>(fam.theta_fo)});
  const Metrics dg = prob->diagnostics(lam);
  CHECK(dg[0].first == "theta");
  CHECK(dg[1].first == "abs_dM");
  CHECK(dg[1].second == doctest::Approx(0.346410).epsilon(sizeof(real) == 8 ? 2e-6 : 1e-5));
  CHECK(prob->evaluate(lam)[0].first == "M");
  const double tol = sizeof(real) == 8 ? 1e-9 : 2e-4;
  Rng rng(2);
  for (const double th : {-9.5, 0.7, 5.7, 12.9, 13.4, 29.0}) {
    const Tensor l = Tensor::vector({static_cast<real>(th)});
    for (int64_t id = 0; id < 2; ++id) {
      Task task;
      task.id = id;
      CAPTURE(th);
      CAPTURE(id);
      const double cf = static_cast<double>((*prob->closed_form_unrolled(l, task))[0]);
      CHECK(cf == doctest::Approx(ufo_toy::task_grads(p, id, static_cast<double>(l[0])).g_ex).epsilon(1e-6));
      // reverse mode through the problem's own autodiff losses gives the same per-task gradient
      CHECK(std::abs(static_cast<double>(autodiff_unrolled(*prob, l, task)[0]) - cf) < tol * (1 + std::abs(cf)));
    }
  }
  // task ids are uniform on {0, 1}
  int ones = 0;
  for (int k = 0; k < 1000; ++k) ones += static_cast<int>(prob->sample_task(rng).id);
  CHECK(ones > 430);
  CHECK(ones < 570);
}

TEST_CASE("ufo-qcurve: D² and V² over the θ grid (q* = 0.110 from them: tests/run/test_check_ufo.cpp)") {
  const ufo_toy::Params p = ufo_toy::qcurve_params();
  const ufo_toy::BiasVariance bv = ufo_toy::bias_variance(p, -50, 50, 10000);
  CHECK(bv.d2 == doctest::Approx(53.21).epsilon(2e-4));
  CHECK(bv.v2 == doctest::Approx(2229.3).epsilon(5e-5));
  // The registered problem is this instance.
  const auto prob = make_problem("ufo-qcurve");
  CHECK(prob->inner().steps == 10);
  CHECK(static_cast<double>(prob->inner().lr) == doctest::Approx(0.01));
  Task t1;
  t1.id = 1;
  const Tensor l = Tensor::vector({real(-31.5)});
  CHECK(static_cast<double>((*prob->closed_form_unrolled(l, t1))[0]) ==
        doctest::Approx(ufo_toy::task_grads(p, 1, -31.5).g_ex).epsilon(1e-6));
  Rng rng(1);
  for (int k = 0; k < 50; ++k) {
    const double x0 = static_cast<double>(prob->init_lambda(rng)[0]);
    CHECK(x0 >= -50);
    CHECK(x0 < 50);
  }
}

// ---- sinusoid -----------------------------------------------------------------------------------------

TEST_CASE("sinusoid: shapes, task determinism and the model layout") {
  const auto p = make_problem("sinusoid", {{"eval_tasks", "5"}});
  CHECK(p->theta_dim() == 1761);
  CHECK(p->lambda_dim() == 1761);
  CHECK(p->theta0_is_lambda());
  CHECK(!p->lambda_in_inner_loss());
  CHECK(p->inner().steps == 5);
  CHECK(static_cast<double>(p->inner().lr) == doctest::Approx(0.01));
  Rng r1(42, {3, 1}), r2(42, {3, 1}), r3(42, {3, 2});
  const Task a = p->sample_task(r1), b = p->sample_task(r2), c = p->sample_task(r3);
  REQUIRE(a.x.size() == 2);
  REQUIRE(a.y.size() == 2);
  for (size_t k = 0; k < 2; ++k) {
    CHECK(a.x[k].shape() == Shape{10, 1});
    CHECK(a.y[k].shape() == Shape{10, 1});
    CHECK(a.x[k].to_vector() == b.x[k].to_vector());
    CHECK(a.y[k].to_vector() == b.y[k].to_vector());
    CHECK(a.x[k].to_vector() != c.x[k].to_vector());
    for (int64_t i = 0; i < 10; ++i) {
      CHECK(std::abs(a.x[k][i]) <= 5);
      CHECK(std::abs(a.y[k][i]) <= 5);
    }
  }
  const nlohmann::json d = p->describe();
  CHECK(d["layout"].size() == 6);
  CHECK(d["layout"][0]["name"] == "layer0.weight");
  const auto q = make_problem("sinusoid", {{"k_shot", "3"}, {"hidden", "8"}, {"eval_tasks", "2"}});
  CHECK(q->theta_dim() == (1 + 1) * 8 + (8 + 1) * 8 + (8 + 1) * 1);
  CHECK(q->sample_task(r1).x[1].shape() == Shape{3, 1});
  // λ is the model's seeded init: a pure function of the stream
  Rng i1(5), i2(5);
  CHECK(p->init_lambda(i1).to_vector() == p->init_lambda(i2).to_vector());
  // the losses are scalars, and the inner loss does not read λ
  const Tensor lam = p->init_lambda(i1);
  CHECK(p->inner_loss(ad::constant(lam), ad::Var(), a).shape() == Shape{});
  CHECK(p->outer_loss(ad::constant(lam), ad::Var(), a).shape() == Shape{});
}

TEST_CASE("sinusoid: evaluate is deterministic and adapts with the inner loop") {
  const auto p = make_problem("sinusoid", {{"eval_tasks", "20"}}, 3);
  const auto same = make_problem("sinusoid", {{"eval_tasks", "20"}}, 3);
  const auto no_adapt = make_problem("sinusoid", {{"eval_tasks", "20"}, {"eval_inner_steps", "0"}}, 3);
  Rng rng(8);
  const Tensor lam = p->init_lambda(rng);
  const Metrics m1 = p->evaluate(lam), m2 = p->evaluate(lam), m3 = same->evaluate(lam);
  REQUIRE(m1.size() == 2);
  CHECK(m1[0].first == "test_mse");
  CHECK(m1[1].first == "test_mse_preadapt");
  CHECK(m1 == m2);
  CHECK(m1 == m3);
  const Metrics m0 = no_adapt->evaluate(lam);
  CHECK(m0[0].second == m0[1].second);
  CHECK(m0[1].second == m1[1].second);
  CHECK(m1[0].second < m1[1].second);  // a few SGD steps on the support set help on the query set
  // a different instance seed gives other evaluation tasks
  CHECK(make_problem("sinusoid", {{"eval_tasks", "20"}}, 4)->evaluate(lam) != m1);
}

#ifdef BILEVEL_DOUBLE
TEST_CASE("sinusoid: inner and outer losses match finite differences") {
  const auto p = make_problem("sinusoid", {{"hidden", "6"}, {"eval_tasks", "1"}});
  Rng rng(12);
  const Task task = p->sample_task(rng);
  const Tensor theta = p->init_lambda(rng);
  check_grad_and_hvp([&](const ad::Var& th) { return p->inner_loss(th, ad::Var(), task); }, theta, 4);
  check_grad_and_hvp([&](const ad::Var& th) { return p->outer_loss(th, ad::Var(), task); }, theta, 5);
  // the r-step meta-gradient by reverse mode matches finite differences of λ ↦ L_V(θ_r(λ))
  const Tensor g = autodiff_unrolled(*p, theta, task);
  const auto meta_loss = [&](const Tensor& lam) {
    Tensor th = lam;
    for (int64_t j = 0; j < p->inner().steps; ++j) {
      const ad::Var v = ad::leaf(th);
      axpy(-p->inner().lr, ad::grad(p->inner_loss(v, ad::Var(), task), {v})[0].value(), th);
    }
    ad::NoGradGuard ng;
    return p->outer_loss(ad::constant(th), ad::Var(), task).item();
  };
  const Tensor v = rng.normal_tensor(theta.shape());
  Tensor lp = theta, lm = theta;
  axpy(1e-5, v, lp);
  axpy(-1e-5, v, lm);
  CHECK(dot(g, v) == doctest::Approx((meta_loss(lp) - meta_loss(lm)) / 2e-5).epsilon(1e-6));
}
#endif

}  // TEST_SUITE

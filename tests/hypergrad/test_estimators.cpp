// Estimators against closed forms and the exact hypergradient.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>

#include "hypergrad/ufo.hpp"
#include "hypergrad/unroll.hpp"
#include "instance.hpp"

using namespace bilevel;

namespace {

using testing::Instance;
using testing::make_instance;

std::unique_ptr<Estimator> make_method(const std::string& name, const Instance& in,
                                       std::map<std::string, std::string> sets = {}) {
  const MethodInfo& m = find_method(name);
  Options o = Options::resolve(name, m.options, sets);
  REQUIRE(sets.empty());
  return make_estimator(m, o, *in.problem);
}

HypergradResult run(const Estimator& e, const Instance& in, uint64_t stream = 0) {
  Rng rng(11, {stream});
  return e.estimate(*in.problem, in.lambda, in.task, rng);
}

[[maybe_unused]] double rel_err(const Tensor& a, const Tensor& b) {
  return std::sqrt(norm2(sub(a, b))) / std::max(std::sqrt(norm2(b)), 1e-30);
}

}  // namespace

TEST_SUITE("hypergrad") {
  TEST_CASE("exact with stored graphs, stored states or a recomputed trajectory gives the same bits") {
    for (const char* problem : {"quadratic", "sinusoid"}) {
      INFO(problem);
      auto in = make_instance(problem, {{"inner_steps", "15"}});
      auto a = run(*make_method("exact", in), in);  // store=graphs
      auto s = run(*make_method("exact", in, {{"store", "states"}}), in);
      auto b = run(*make_method("exact", in, {{"recompute", "true"}}), in);
      REQUIRE(a.grad.numel() == b.grad.numel());
      for (int64_t i = 0; i < a.grad.numel(); ++i) {
        CHECK(a.grad[i] == b.grad[i]);
        CHECK(s.grad[i] == b.grad[i]);
      }
      CHECK(a.outer_loss == b.outer_loss);
      CHECK(s.grad_evals == a.grad_evals);
      CHECK(b.grad_evals > a.grad_evals);  // recomputation costs O(r²) gradients
      CHECK(a.hvps == 15);
      CHECK(s.hvps == 15);
      CHECK(b.hvps == 15);
      // Memory: graphs hold each step's activations, states only θ_j, recompute neither.
      CHECK(a.peak_bytes > s.peak_bytes);
      CHECK(s.peak_bytes > b.peak_bytes);
    }
  }

  TEST_CASE("tbptt interpolates between fo (k = 0) and exact (k = r)") {
    auto in = make_instance("quadratic", {{"inner_steps", "8"}});
    auto ex = run(*make_method("exact", in), in);
    auto full = run(*make_method("tbptt", in, {{"k", "8"}}), in);
    auto none = run(*make_method("tbptt", in, {{"k", "0"}}), in);
    auto fo = run(*make_method("fo", in), in);
    for (int64_t i = 0; i < ex.grad.numel(); ++i) {
      CHECK(full.grad[i] == ex.grad[i]);
      CHECK(none.grad[i] == fo.grad[i]);
    }
    CHECK_THROWS_AS(make_method("tbptt", in, {{"k", "9"}}), option_error);
  }

  TEST_CASE("fo ignores the path through the inner loop: zero on a pure HPO problem") {
    // On `quadratic`, λ enters only L_T and θ₀ does not depend on λ, so FOM's estimate is exactly 0:
    // its bias is the whole hypergradient.
    auto in = make_instance("quadratic", {});
    auto fo = run(*make_method("fo", in), in);
    CHECK(norm2(fo.grad) == 0.0);
    auto ex = run(*make_method("exact", in), in);
    CHECK(norm2(ex.grad) > 0.0);
  }

  TEST_CASE("t1t2 equals its one-step closed form −α e^λ ⊙ θ_{r−1} ⊙ ∇L_V(θ_r)") {
    auto in = make_instance("quadratic", {{"inner_steps", "6"}});
    HypergradResult cost;
    auto traj = unroll_stored(*in.problem, in.lambda, in.task, 6, cost);
    OuterGrad og = outer_grad(*in.problem, traj[6], in.lambda, in.task, cost);
    auto t = run(*make_method("t1t2", in), in);
    const double a = in.problem->inner().lr;
    for (int64_t i = 0; i < t.grad.numel(); ++i) {
      const double want = -a * std::exp(static_cast<double>(in.lambda[i])) * traj[5][i] * og.d_theta[i];
      CHECK(t.grad[i] == doctest::Approx(want).epsilon(1e-4).scale(1e-6));
    }
  }

#ifdef BILEVEL_DOUBLE
  TEST_CASE("exact, exact-recompute and fmd match the r-step closed form to 1e-8") {
    for (const char* cond : {"3", "30"}) {
      CAPTURE(cond);
      auto in = make_instance("quadratic", {{"inner_steps", "25"}, {"cond", cond}, {"dim", "8"}});
      auto cf = in.problem->closed_form_unrolled(in.lambda, in.task);
      REQUIRE(cf.has_value());
      CHECK(rel_err(run(*make_method("exact", in), in).grad, *cf) < 1e-8);
      CHECK(rel_err(run(*make_method("exact", in, {{"recompute", "true"}}), in).grad, *cf) < 1e-8);
      CHECK(rel_err(run(*make_method("fmd", in), in).grad, *cf) < 1e-8);
    }
  }

  TEST_CASE("ift-cg and ift-neumann match the implicit closed form at θ*(λ)") {
    auto in = make_instance("quadratic", {{"inner_steps", "3000"}, {"dim", "8"}, {"cond", "10"}});
    auto cf = in.problem->closed_form_ift(in.lambda, in.task);
    REQUIRE(cf.has_value());
    const HypergradResult cg = run(*make_method("ift-cg", in, {{"cg_iters", "50"}}), in);
    CHECK(rel_err(cg.grad, *cf) < 1e-5);
    REQUIRE(cg.extras.size() == 1);
    CHECK(cg.extras[0].first == "cg_residual");
    CHECK(cg.extras[0].second < 1e-8);  // 50 iterations on dim 8: converged to cg_tol
    CHECK(rel_err(run(*make_method("ift-neumann", in, {{"neumann_iters", "3000"}}), in).grad, *cf) < 1e-5);
    // And the unrolled exact hypergradient converges to the same point for large r.
    CHECK(rel_err(run(*make_method("exact", in), in).grad, *cf) < 1e-5);
  }

  TEST_CASE("exact on sinusoid matches finite differences of the r-step outer loss") {
    auto in = make_instance("sinusoid", {{"inner_steps", "3"}, {"hidden", "8"}});
    auto ex = run(*make_method("exact", in), in);
    auto loss_at = [&](const Tensor& lam) {
      HypergradResult c;
      Tensor th = unroll(*in.problem, lam, in.task, 3, c);
      return outer_grad(*in.problem, th, lam, in.task, c).loss;
    };
    Rng pick(3, {9});
    for (int t = 0; t < 12; ++t) {
      const int64_t i = pick.randint(in.lambda.numel());
      const double h = 1e-6;
      Tensor lp = in.lambda, lm = in.lambda;
      lp[i] += h;
      lm[i] -= h;
      const double fd = (loss_at(lp) - loss_at(lm)) / (2 * h);
      CHECK(ex.grad[i] == doctest::Approx(fd).epsilon(1e-5).scale(1e-7));
    }
  }
#endif

  TEST_CASE("ufo is unbiased and has the predicted second moment") {
    // ĝ = g_fo + (ξ/q)(g_ex − g_fo): E ĝ = g_ex, E‖ĝ‖² = ‖g_ex‖² + (1/q − 1)‖g_ex − g_fo‖².
    auto in = make_instance("ufo-counterexample", {});
    in.lambda[0] = real(4.0);
    in.task.id = 1;
    const double q = 0.1;
    auto ufo = make_method("ufo", in, {{"q", "0.1"}});
    const double ge = run(*make_method("exact", in), in).grad[0];
    const double gf = run(*make_method("fo", in), in).grad[0];
    REQUIRE(std::abs(ge - gf) > 1e-3);  // FOM is biased here, so the test can fail
    const int n = 100000;
    double s = 0, s2 = 0, s4 = 0;
    for (int k = 0; k < n; ++k) {
      const double g = run(*ufo, in, static_cast<uint64_t>(k) + 1).grad[0];
      s += g;
      s2 += g * g;
      s4 += g * g * g * g;
    }
    const double mean = s / n, m2 = s2 / n;
    const double se_mean = std::sqrt((m2 - mean * mean) / n);
    const double se_m2 = std::sqrt((s4 / n - m2 * m2) / n);
    CHECK(std::abs(mean - ge) < 3 * se_mean);
    const double want_m2 = ge * ge + (1 / q - 1) * (ge - gf) * (ge - gf);
    CHECK(std::abs(m2 - want_m2) < 3 * se_m2);
  }

  TEST_CASE("the optimal-q rule minimises T(q)·S(q)^κ") {
    for (double kappa : {0.5, 1.0, 2.0}) {
      for (auto [d2, v2] : {std::pair{1.0, 100.0}, std::pair{53.21, 2229.3}, std::pair{5.0, 6.0}}) {
        const double c_det = 11, c_rnd = 10;
        const double q = ufo_optimal_q(d2, v2, c_det, c_rnd, kappa, 1e-4);
        auto obj = [&](double t) { return (c_det + t * c_rnd) * std::pow(v2 + (1 / t - 1) * d2, kappa); };
        double best = obj(1), best_q = 1;
        for (int i = 1; i <= 100000; ++i) {
          const double t = i / 100000.0;
          if (obj(t) < best) best = obj(t), best_q = t;
        }
        CAPTURE(kappa);
        CAPTURE(d2);
        CHECK(q == doctest::Approx(best_q).epsilon(1e-3).scale(1e-3));
      }
    }
    // The q-curve setup of the reference (κ = ½, C_det = r + 1, C_rnd = r, r = 10): q* = 0.110.
    CHECK(ufo_optimal_q(53.21, 2229.3, 11, 10, 0.5, 0.0) == doctest::Approx(0.110).epsilon(0.01));
  }

  TEST_CASE("the method table: unique names, a description and a factory each, in one lookup") {
    std::set<std::string> names;
    for (const MethodInfo& m : method_registry()) {
      CAPTURE(m.name);
      CHECK(names.insert(m.name).second);
      CHECK(!m.description.empty());
      CHECK(static_cast<bool>(m.make));
      CHECK(&find_method(m.name) == &m);
    }
    CHECK(names.size() == 15);
  }

  TEST_CASE("methods that do not apply are refused with a reason") {
    auto quad = make_instance("quadratic", {});
    CHECK_THROWS_WITH_AS(make_method("reptile", quad), doctest::Contains("meta-initialization"), option_error);
    auto toy = make_instance("ufo-counterexample", {});
    for (const char* method : {"ift-cg", "ift-neumann", "t1t2"}) {
      CAPTURE(method);
      CHECK_THROWS_WITH_AS(make_method(method, toy), doctest::Contains("initialization"), option_error);
      CHECK(find_method(method).refusal(*quad.problem).empty());
    }
    CHECK(find_method("reptile").refusal(*toy.problem).empty());
    auto big = make_instance("quadratic", {{"dim", "200"}});
    CHECK_THROWS_WITH_AS(make_method("fmd", big, {{"fmd_max_entries", "1000"}}), doctest::Contains("fmd_max_entries"),
                         option_error);
  }

  TEST_CASE("unknown names list the valid ones") {
    CHECK_THROWS_WITH_AS(find_method("sgd2"), doctest::Contains("valid methods: fo"), option_error);
    CHECK_THROWS_WITH_AS(find_problem("nope"), doctest::Contains("quadratic"), option_error);
  }
}

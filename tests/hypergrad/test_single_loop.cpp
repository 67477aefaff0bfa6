// The single-loop stochastic solvers (stocbio, amigo, soba, saba, f2sa) against the closed-form implicit
// hypergradient: their estimates tend to it as their inner and linear-system iterations converge, SOBA's and
// SABA's direction equals it at a fixed point of the joint dynamics, f2sa's penalty gradient tends to it with a
// bias O(1/μ); their oracle counts per step follow each algorithm's definition; their warm state continues bit
// for bit from a saved state.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <map>
#include <vector>

#include "hypergrad/estimator.hpp"
#include "hypergrad/value_function.hpp"
#include "instance.hpp"
#include "sum_ridge.hpp"

using namespace bilevel;

namespace {

using Sets = std::map<std::string, std::string>;

std::unique_ptr<Estimator> make(const std::string& method, const Problem& p, Sets sets) {
  const MethodInfo& m = find_method(method);
  const Options o = Options::resolve(method, m.options, sets);
  REQUIRE(sets.empty());
  return make_estimator(m, o, p);
}

// `steps` outer steps at a fixed λ (one task); the last step's result.
HypergradResult advance(Estimator& e, const Problem& p, const Tensor& lambda, const Task& task, int64_t from,
                        int64_t steps) {
  HypergradResult last;
  for (int64_t s = from; s < from + steps; ++s) {
    e.begin_step(s);
    Rng rng(11, {static_cast<uint64_t>(s)});
    std::vector<HypergradResult> r{e.estimate(p, lambda, task, rng)};
    e.end_step(r);
    last = std::move(r[0]);
  }
  return last;
}

double rel_err(const Tensor& a, const Tensor& b) { return std::sqrt(norm2(sub(a, b)) / norm2(b)); }

// Tolerances at convergence: what each precision resolves.
const double kConverged = sizeof(real) == 8 ? 1e-9 : 2e-4;

}  // namespace

TEST_SUITE("hypergrad") {
  TEST_CASE("stocbio and amigo tend to the implicit hypergradient as their inner and linear-system iterations grow") {
    auto in = testing::make_instance("quadratic", {{"dim", "4"}});
    const Tensor cf = *in.problem->closed_form_ift(in.lambda, in.task);
    for (const char* method : {"stocbio", "amigo"}) {
      CAPTURE(method);
      const char* v_key = std::string(method) == "stocbio" ? "neumann_iters" : "v_iters";
      double prev = INFINITY;
      for (const char* iters : {"5", "20", "80", "400"}) {
        CAPTURE(iters);
        auto e = make(method, *in.problem, {{"inner_iters", iters}, {v_key, iters}});
        const double err = rel_err(advance(*e, *in.problem, in.lambda, in.task, 0, 1).grad, cf);
        MESSAGE(std::string(method) << " iters " << std::string(iters) << ": rel err " << err);
        CHECK(err < prev);
        prev = err;
        if (std::string(iters) == "5") CHECK(err > 1e-2);  // far from converged: the check can fail
      }
      CHECK(prev < kConverged);
    }
  }

  TEST_CASE("at a fixed point of the joint dynamics, soba's and saba's direction is the implicit hypergradient") {
    auto in = testing::make_instance("quadratic", {{"dim", "4"}});
    const Tensor cf = *in.problem->closed_form_ift(in.lambda, in.task);
    for (const char* method : {"soba", "saba"}) {
      CAPTURE(method);
      auto e = make(method, *in.problem, {});
      const double early = rel_err(advance(*e, *in.problem, in.lambda, in.task, 0, 10).grad, cf);
      const double late = rel_err(advance(*e, *in.problem, in.lambda, in.task, 10, 800).grad, cf);
      MESSAGE(std::string(method) << ": rel err after 10 steps " << early << ", after 810 " << late);
      CHECK(early > 1e-2);
      CHECK(late < kConverged);
    }
  }

  TEST_CASE("with minibatches saba's variance reduction reaches the fixed point, soba's noise does not") {
    // Constant step sizes: SOBA's minibatch noise keeps its direction away from the hypergradient, SAGA's
    // memories make SABA's noise vanish at the fixed point, so it converges to it.
    testing::SumRidge p(40, 4, 6, 3);
    Rng r0(1);
    const Tensor lambda = p.init_lambda(r0);
    const Tensor cf = p.ift(lambda);
    const Task task;
    auto soba = make("soba", p, {{"batch_size", "4"}});
    auto saba = make("saba", p, {{"batch_size", "4"}});
    const double e_soba = rel_err(advance(*soba, p, lambda, task, 0, 1500).grad, cf);
    const double e_saba = rel_err(advance(*saba, p, lambda, task, 0, 1500).grad, cf);
    MESSAGE("after 1500 steps with batch 4 of 40: soba rel err " << e_soba << ", saba " << e_saba);
    CHECK(e_soba > 1e-3);
    CHECK(e_saba < (sizeof(real) == 8 ? 1e-7 : 1e-3));
  }

  TEST_CASE("f2sa's penalty gradient tends to the implicit hypergradient with a bias O(1/μ)") {
    auto in = testing::make_instance("quadratic", {{"dim", "4"}});
    const Tensor cf = *in.problem->closed_form_ift(in.lambda, in.task);
    std::vector<double> errs;
    for (const char* mu : {"4", "16", "64"}) {
      auto e = make("f2sa", *in.problem, {{"inner_iters", "600"}, {"penalty", mu}});
      const HypergradResult r = advance(*e, *in.problem, in.lambda, in.task, 0, 1);
      CHECK(r.hvps == 0);  // fully first order
      errs.push_back(rel_err(r.grad, cf));
      MESSAGE("f2sa μ = " << std::string(mu) << ": rel err " << errs.back());
    }
    // μ × 4 → bias ÷ 4 (to first order in 1/μ).
    for (size_t i = 1; i < errs.size(); ++i) {
      CHECK(errs[i] / errs[i - 1] > 0.18);
      CHECK(errs[i] / errs[i - 1] < 0.32);
    }
    // penalty_growth: μ_t = μ₀ + δ·t, logged as the estimator's state.
    auto grow = make("f2sa", *in.problem, {{"penalty", "2"}, {"penalty_growth", "0.5"}});
    grow->begin_step(6);
    CHECK(grow->state() == Metrics{{"penalty", 5.0}});
  }

  TEST_CASE("oracle counts per step follow each solver's definition") {
    // n = 20 examples, batch 5: an inner oracle costs 5/20; m = 4 outer rows: an outer gradient costs 1 on the
    // full outer loss, 2/4 on an outer batch of 2.
    testing::SumRidge p(20, 3, 4, 5);
    Rng r0(1);
    const Tensor lambda = p.init_lambda(r0);
    const Task task;
    struct Expect {
      const char* method;
      Sets sets;
      int64_t grads, hvps, inner_calls, outer_calls;
      double inner_cost;
    };
    const double w = 0.25;
    const std::vector<Expect> cases = {
        // one inner oracle at (θ, v) (gradient + Hv and Bᵀv), one outer gradient
        {"soba", {{"batch_size", "5"}}, 2, 1, 1, 1, 2 * w},
        {"saba", {{"batch_size", "5"}}, 2, 1, 1, 1, 2 * w},
        // T = 3 inner SGD steps, outer gradient, linearization + K = 4 Neumann HVPs + Bᵀx
        {"stocbio", {{"batch_size", "5"}, {"inner_iters", "3"}, {"neumann_iters", "4"}}, 3 + 1 + 1, 4 + 1, 3 + 1, 1, w * (3 + 1 + 4 + 1)},
        // T = 3 inner steps, outer gradient, Q = 4 linear-system steps + the final Bᵀv, each a gradient + HVP
        {"amigo", {{"batch_size", "5"}, {"inner_iters", "3"}, {"v_iters", "4"}}, 3 + 1 + 5, 5, 3 + 5, 1, w * (3 + 2 * 5)},
        // T = 3 steps of (∇g(z), ∇f(y), ∇g(y)), then ∇f(y), ∇_λ g(y), ∇_λ g(z)
        {"f2sa", {{"batch_size", "5"}, {"inner_iters", "3"}}, 3 * 3 + 3, 0, 2 * 3 + 2, 3 + 1, 3 * 2 * w + 2 * w},
    };
    for (const Expect& c : cases) {
      for (const int64_t outer_batch : {0, 2}) {
        CAPTURE(c.method);
        CAPTURE(outer_batch);
        Sets sets = c.sets;
        sets["outer_batch_size"] = std::to_string(outer_batch);
        auto e = make(c.method, p, sets);
        const double wo = outer_batch == 0 ? 1.0 : 0.5;
        for (int64_t s = 0; s < 3; ++s) {  // the first step (fresh state) and warm ones count the same
          p.reset_counts();
          const HypergradResult r = advance(*e, p, lambda, task, s, 1);
          CHECK(r.grad_evals == c.grads);
          CHECK(r.hvps == c.hvps);
          CHECK(r.cost == doctest::Approx(c.inner_cost + wo * static_cast<double>(c.outer_calls)).epsilon(1e-12));
          CHECK(p.inner_calls == c.inner_calls);
          CHECK(p.batch_examples == 5 * c.inner_calls);  // every inner oracle on 5 examples
          CHECK(p.outer_calls == c.outer_calls);
          CHECK(p.outer_examples_seen == (outer_batch == 0 ? 4 : outer_batch) * c.outer_calls);
        }
      }
    }
  }

  TEST_CASE("saba's memories count in its peak bytes and grow with the number of blocks") {
    testing::SumRidge p(40, 3, 4, 5);
    Rng r0(1);
    const Tensor lambda = p.init_lambda(r0);
    auto peak = [&](const char* method, const char* batch) {
      auto e = make(method, p, {{"batch_size", batch}});
      const int64_t b = advance(*e, p, lambda, Task{}, 0, 3).peak_bytes;
      return b;
    };
    const int64_t per_block = (3 + 3 + 3) * static_cast<int64_t>(sizeof(real));  // grad, Hv, Bᵀv rows
    // Beyond SOBA at the same batch (the same oracles): 10 blocks of 4 examples, or 5 blocks of 8.
    CHECK(peak("saba", "4") - peak("soba", "4") >= 10 * per_block);
    CHECK(peak("saba", "8") - peak("soba", "8") >= 5 * per_block);
    CHECK(peak("saba", "8") - peak("soba", "8") < 10 * per_block);
    // Memories beyond memory_max_entries are refused before anything is allocated.
    CHECK_THROWS_WITH_AS(make("saba", p, {{"batch_size", "4"}, {"memory_max_entries", "89"}}),
                         doctest::Contains("memory_max_entries"), option_error);
    CHECK_NOTHROW(make("saba", p, {{"batch_size", "4"}, {"memory_max_entries", "90"}}));
  }

  TEST_CASE("single-loop solvers continue bit for bit from their saved warm state") {
    testing::SumRidge p(20, 3, 4, 5);
    Rng r0(1);
    const Tensor lambda = p.init_lambda(r0);
    const Task task;
    for (const char* method : {"soba", "saba", "stocbio", "amigo", "f2sa"}) {
      CAPTURE(method);
      auto sets_for = [](const std::string& m) -> Sets {
        if (m == "f2sa") return {{"batch_size", "5"}, {"inner_iters", "2"}, {"penalty_growth", "1"}};
        if (m == "stocbio" || m == "amigo") return {{"batch_size", "5"}, {"inner_iters", "2"}};
        return {{"batch_size", "5"}};
      };
      auto whole = make(method, p, sets_for(method));
      std::vector<Tensor> a;
      for (int64_t s = 0; s < 8; ++s) a.push_back(advance(*whole, p, lambda, task, s, 1).grad);
      auto first = make(method, p, sets_for(method));
      advance(*first, p, lambda, task, 0, 4);
      const EstimatorState saved = first->save_state();
      REQUIRE_FALSE(saved.empty());
      auto second = make(method, p, sets_for(method));
      second->load_state(saved);
      auto cold = make(method, p, sets_for(method));
      bool cold_differs = false;
      for (int64_t s = 4; s < 8; ++s) {
        CHECK(max_abs_diff(advance(*second, p, lambda, task, s, 1).grad, a[static_cast<size_t>(s)]) == 0);
        cold_differs = cold_differs || max_abs_diff(advance(*cold, p, lambda, task, s, 1).grad, a[static_cast<size_t>(s)]) > 0;
      }
      CHECK(cold_differs);
      // A state of another shape or name is refused.
      EstimatorState bad = saved;
      bad.tensors[0].second = Tensor(Shape{7});
      CHECK_THROWS_AS(second->load_state(bad), usage_error);
      bad = saved;
      bad.tensors[0].first = "other";
      CHECK_THROWS_AS(second->load_state(bad), usage_error);
    }
  }

  TEST_CASE("single-loop solvers refuse minibatches of a problem without examples, and problems without λ in L_T") {
    auto quad = testing::make_instance("quadratic", {{"dim", "3"}});
    for (const char* method : {"soba", "saba", "stocbio", "amigo", "f2sa"}) {
      CAPTURE(method);
      CHECK_THROWS_AS(make(method, *quad.problem, {{"batch_size", "4"}}), option_error);
      auto sin = testing::make_instance("sinusoid", {{"hidden", "4"}});
      CHECK_THROWS_AS(make(method, *sin.problem, {}), option_error);
    }
    testing::SumRidge p(20, 3, 4, 5);
    CHECK_THROWS_AS(make("soba", p, {{"batch_size", "21"}}), option_error);
  }
}

#ifdef BILEVEL_DOUBLE
TEST_SUITE("hypergrad") {
  TEST_CASE("on the quadratic, every single-loop solver's outer iterates reach the optimum of h (full batch)") {
    // h(λ) = L_V(θ*(λ)) in closed form (evaluate's val_loss_star); h* from gradient descent with the closed-form
    // implicit hypergradient run to convergence. Each solver runs the same outer SGD with its own direction.
    // Instance 13 of dim 2 (noise 1) has an interior optimum that gradient descent reaches to |∇h| < 1e-12 (on
    // most instances some λᵢ drift to ±∞ along flat directions of h, and no iterate reaches h* to 1e-6).
    Sets psets = {{"dim", "2"}, {"noise", "1"}};
    const Options popts = Options::resolve("quadratic", find_problem("quadratic").options, psets);
    const auto problem = find_problem("quadratic").make(popts, 13);
    const Problem& p = *problem;
    Rng r0(7, {1}), r1(7, {2});
    struct { Tensor lambda; Task task; } in{p.init_lambda(r0), p.sample_task(r1)};
    auto h = [&](const Tensor& l) { return p.evaluate(l)[1].second; };
    REQUIRE(p.evaluate(in.lambda)[1].first == "val_loss_star");
    const real outer_lr = real(0.5);
    Tensor best = in.lambda;
    for (int i = 0; i < 5000; ++i) axpy(-outer_lr, *p.closed_form_ift(best, in.task), best);
    const double h_star = h(best);
    CHECK(std::sqrt(norm2(*p.closed_form_ift(best, in.task))) < 1e-12);
    CHECK(h(in.lambda) - h_star > 1e-2);  // the start is far from the optimum
    const std::vector<std::pair<const char*, Sets>> solvers = {
        {"soba", {}}, {"saba", {}}, {"stocbio", {{"inner_iters", "5"}, {"neumann_iters", "40"}}},
        {"amigo", {{"inner_iters", "5"}, {"v_iters", "5"}}}, {"f2sa", {{"inner_iters", "5"}, {"penalty", "100"}, {"penalty_growth", "1"}}}};
    for (const auto& [method, sets] : solvers) {
      CAPTURE(method);
      auto e = make(method, p, sets);
      Tensor lambda = in.lambda;
      // SOBA and SABA move λ every θ and v step: a smaller outer step keeps λ on the slower time scale.
      const bool joint = std::string(method) == "soba" || std::string(method) == "saba";
      const real lr = joint ? real(0.1) : outer_lr;
      for (int64_t s = 0; s < (joint ? 8000 : 3000); ++s) axpy(-lr, advance(*e, p, lambda, in.task, s, 1).grad, lambda);
      const double gap = h(lambda) - h_star;
      MESSAGE(std::string(method) << ": value_subopt " << gap);
      CHECK(gap < 1e-6);
      CHECK(gap > -1e-12);
    }
  }
}

#endif  // BILEVEL_DOUBLE

#ifdef BILEVEL_DOUBLE
TEST_SUITE("hypergrad") {
  TEST_CASE("on the sampled quadratic, saba's outer iterates reach the optimum with minibatches, soba's stall") {
    // The benchmark's quadratic protocol in small: inner and outer losses are means over sampled rows (32 inner,
    // 8 outer), the oracles take 4 inner rows and 2 outer rows. With constant step sizes SOBA's sample noise keeps
    // λ at a noise floor around the optimum; SABA's SAGA memories (inner and outer) make the noise vanish at the
    // fixed point, so its λ converges to the minimiser of h. h(λ) and h* (value_star) are the closed forms.
    // Instance 38 of dim 2 (noise 1) has an interior optimum (closed-form GD reaches |∇h| < 1e-15, h* = 0.5936)
    // where the per-row outer gradients do not vanish (8 rows for 2 unknowns): without variance reduction of the
    // outer oracle too, SABA would stall as well.
    Sets psets = {{"dim", "2"}, {"n_samples", "32"}, {"val_rows", "8"}, {"noise", "1"}};
    const auto problem =
        find_problem("quadratic").make(Options::resolve("quadratic", find_problem("quadratic").options, psets), 38);
    const Problem& p = *problem;
    Rng r0(1);
    const Task task = p.sample_task(r0);
    const double h_star = p.evaluate(Tensor(Shape{2}))[2].second;
    auto subopt = [&](const Tensor& l) { return p.evaluate(l)[1].second - h_star; };
    // The solvers start near the minimiser (closed-form GD to convergence, then moved by 0.5 per coordinate): the
    // test is about the noise floor, not about the long way from λ = 0.
    Tensor start(Shape{2});
    for (int i = 0; i < 3000; ++i) axpy(real(-0.5), *p.closed_form_ift(start, task), start);
    REQUIRE(std::abs(subopt(start)) < 1e-12);
    start[0] += real(0.5), start[1] -= real(0.5);
    REQUIRE(subopt(start) > 1e-3);
    std::map<std::string, std::vector<double>> trace;
    for (const char* method : {"soba", "saba"}) {
      auto e = make(method, p, {{"batch_size", "4"}, {"outer_batch_size", "2"}, {"theta_lr", "0.02"}});
      Tensor lambda = start;
      for (int64_t s = 0; s < 16000; ++s) {
        axpy(real(-0.02), advance(*e, p, lambda, task, s, 1).grad, lambda);
        if (s >= 8000 && (s + 1) % 1000 == 0) trace[method].push_back(subopt(lambda));
      }
      std::string text;
      for (double v : trace[method]) { char b[24]; std::snprintf(b, sizeof b, " %.2e", v); text += b; }
      MESSAGE(std::string(method) << ": value_subopt at steps 9000..16000:" << text);
    }
    std::vector<double> soba = trace["soba"];
    std::sort(soba.begin(), soba.end());
    CHECK(soba[soba.size() / 2] > 1e-5);  // SOBA's median over the last half: at its noise floor
    CHECK(trace["saba"].back() < 1e-9);  // SABA: at the optimum (measured 3.9e-11)
    CHECK(trace["saba"].back() > -1e-12);
    CHECK(trace["saba"].back() < trace["saba"].front());  // still descending: not a lucky draw
  }
}
#endif  // BILEVEL_DOUBLE

TEST_SUITE("hypergrad") {
  TEST_CASE("the value function h(λ) and ‖∇h(λ)‖ match the quadratic's closed forms") {
    auto in = testing::make_instance("quadratic", {{"dim", "4"}, {"lambda_init", "0.5"}});
    const Problem& p = *in.problem;
    const double h = p.evaluate(in.lambda)[1].second;  // val_loss_star: L_V(θ*) by Cholesky
    const double g = std::sqrt(norm2(*p.closed_form_ift(in.lambda, in.task)));
    const ValueFunction few = value_function(p, in.lambda, in.task, {.inner_steps = 10});
    const ValueFunction many = value_function(p, in.lambda, in.task, {.inner_steps = 2000});
    MESSAGE("h " << h << " vs " << many.value << " (10 steps: " << few.value << "); |∇h| " << g << " vs " << many.grad_norm);
    CHECK(std::abs(few.value - h) > 1e-3 * h);  // a short inner run is visibly off: the check can fail
    CHECK(many.value == doctest::Approx(h).epsilon(sizeof(real) == 8 ? 1e-12 : 1e-5));
    CHECK(many.grad_norm == doctest::Approx(g).epsilon(sizeof(real) == 8 ? 1e-9 : 1e-4));
    CHECK(many.inner_grad_norm < few.inner_grad_norm * 1e-3);
  }
}

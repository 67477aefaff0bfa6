// Method sgld: schedule, reproducibility across threads, exact identities (τ = 0, two-pass ≡ drop-hessian,
// finite differences with common random numbers), refusals, and the closed-form expectations of §8.
#include <doctest/doctest.h>
#include <oneapi/tbb/global_control.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>

#include "optim/sgld.hpp"
#include "hypergrad/unroll.hpp"
#include "instance.hpp"

using namespace bilevel;

namespace {

using testing::Instance;
using testing::make_instance;
using testing::Sets;

std::unique_ptr<Estimator> make_sgld(const Instance& in, Sets sets) {
  const MethodInfo& m = find_method("sgld");
  Options o = Options::resolve("sgld", m.options, sets);
  REQUIRE(sets.empty());
  return make_estimator(m, o, *in.problem);
}

std::unique_ptr<Estimator> make_other(const std::string& name, const Instance& in) {
  const MethodInfo& m = find_method(name);
  Sets none;
  return make_estimator(m, Options::resolve(name, m.options, none), *in.problem);
}

HypergradResult run(const Estimator& e, const Instance& in, uint64_t stream = 0, const Tensor* lambda = nullptr) {
  Rng rng(11, {stream});
  return e.estimate(*in.problem, lambda ? *lambda : in.lambda, in.task, rng);
}

double extra(const HypergradResult& r, const std::string& key) {
  for (const auto& [k, v] : r.extras)
    if (k == key) return v;
  FAIL("extra '" << key << "' missing");
  return NAN;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

#ifdef BILEVEL_DOUBLE
// Mean and standard error of a scalar hypergradient over `reps` independent estimates.
struct MeanSe {
  double mean = 0, se = 0, expected = 0;
};
MeanSe repeat(const Estimator& e, const Instance& in, int reps) {
  double s = 0, s2 = 0;
  MeanSe out;
  for (int r = 0; r < reps; ++r) {
    const HypergradResult h = run(e, in, 1000 + static_cast<uint64_t>(r));
    const double g = h.grad[0];
    s += g, s2 += g * g;
    out.expected = extra(h, "cf_expected");
  }
  out.mean = s / reps;
  out.se = std::sqrt(std::max(0.0, s2 / reps - out.mean * out.mean) / (reps - 1));
  return out;
}
#endif

// Agreement "to rounding": a few thousand ulps of the build's scalar type.
const double kRounding = 4096 * static_cast<double>(std::numeric_limits<real>::epsilon());
// Equal in exact arithmetic, computed by different recurrences: 1e-10 in double.
const double kExact = sizeof(real) == 8 ? 1e-10 : 1e-4;

const char* const kVariants[] = {"pathwise", "cov", "drop-hessian", "one-step", "two-pass", "frozen"};

}  // namespace

TEST_SUITE("hypergrad") {
  TEST_CASE("sgld schedule: kept samples, resets and the steps each sample sees") {
    SgldSchedule s;
    s.burn_in = 3, s.thin = 2, s.samples = 4, s.window = 5;
    CHECK(s.total_steps() == 11);
    std::set<int64_t> kept;
    for (int64_t t = 0; t <= 12; ++t)
      if (s.retained(t)) kept.insert(t);
    CHECK(kept == std::set<int64_t>{5, 7, 9, 11});
    CHECK(!s.reset_at(0));
    CHECK(s.reset_at(5));
    CHECK(s.reset_at(10));
    CHECK(s.steps_since_reset(5) == 5);
    CHECK(s.steps_since_reset(7) == 2);
    CHECK(s.steps_since_reset(11) == 1);
    // The step from θ_4 feeds the sample at 5 (same window); nothing after θ_5's step until 7 in window 2;
    // the step from θ_10 feeds θ_11.
    CHECK(s.sample_ahead(4));
    CHECK(s.sample_ahead(5));
    CHECK(s.sample_ahead(10));
    SgldSchedule t;
    t.burn_in = 0, t.thin = 4, t.samples = 2, t.window = 6;  // kept 4, 8; windows [0, 6), [6, 12)
    CHECK(!t.sample_ahead(4));  // 8 lies in the next window
    CHECK(t.sample_ahead(6));
    CHECK(!t.sample_ahead(8));
    Rng r(3);
    auto b = sgld_minibatch(10, 4, r);
    CHECK(std::set<int64_t>(b.begin(), b.end()).size() == 4);
    for (int64_t i : b) CHECK((i >= 0 && i < 10));
  }

  TEST_CASE("sgld results are bit-identical for 1 and 2 threads, for every variant") {
    auto in = make_instance("toy-multimin");
    for (const char* v : kVariants) {
      const std::string variant = v;
      CAPTURE(variant);
      auto e = make_sgld(in, {{"variant", v}, {"chains", "5"}, {"burn_in", "10"}, {"samples", "20"}, {"window", "7"},
                              {"minibatch", "3"}, {"tau", "0.3"}});
      HypergradResult a, b;
      {
        tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
        a = run(*e, in);
      }
      {
        tbb::global_control two(tbb::global_control::max_allowed_parallelism, 2);
        b = run(*e, in);
      }
      CHECK(same_bits(a.grad, b.grad));
      CHECK(a.outer_loss == b.outer_loss);
      CHECK(a.grad_evals == b.grad_evals);
      CHECK(a.hvps == b.hvps);
      CHECK(a.peak_bytes == b.peak_bytes);
      // Another stream gives another estimate: the chains are random.
      CHECK(!same_bits(a.grad, run(*e, in, 1).grad));
    }
  }

  TEST_CASE("sgld at τ = 0 is gradient descent: pathwise is the r-step hypergradient, one-step is t1t2") {
    auto in = make_instance("gaussian-sgld", {{"inner_steps", "30"}});
    const Sets last_state = {{"tau", "0"}, {"burn_in", "29"}, {"samples", "1"}, {"chains", "1"}};
    Sets pw = last_state;
    pw["variant"] = "pathwise";
    const double want = (*in.problem->closed_form_unrolled(in.lambda, in.task))[0];
    CHECK(run(*make_sgld(in, pw), in).grad[0] == doctest::Approx(want).epsilon(kExact));
    CHECK(run(*make_other("fmd", in), in).grad[0] == doctest::Approx(want).epsilon(kExact));
    Sets os = last_state;
    os["variant"] = "one-step";
    CHECK(run(*make_sgld(in, os), in).grad[0] ==
          doctest::Approx(run(*make_other("t1t2", in), in).grad[0]).epsilon(kExact));
    // drop-hessian at τ = 0: J_r = −η Σ_{j<r} θ_j (M_j = θ_j), so the estimate is −η Σ_j θ_jᵀ(θ_r − b).
    HypergradResult cost;
    const auto traj = unroll_stored(*in.problem, in.lambda, in.task, 30, cost);
    const OuterGrad og = outer_grad(*in.problem, traj[30], in.lambda, in.task, cost);
    double dh = 0;
    for (int j = 0; j < 30; ++j) dh -= 0.25 * dot(traj[static_cast<size_t>(j)], og.d_theta);
    Sets dr = last_state;
    dr["variant"] = "drop-hessian";
    CHECK(run(*make_sgld(in, dr), in).grad[0] == doctest::Approx(dh).epsilon(kExact));
    // A long zero-temperature chain reaches the implicit (IFT) value −(μ−b)ᵀB⁻¹μ = −0.629738.
    pw["burn_in"] = "400";
    CHECK(run(*make_sgld(in, pw), in).grad[0] == doctest::Approx(-0.629738).epsilon(1e-6));
  }

  TEST_CASE("two-pass equals drop-hessian to rounding (same streams, windows, thinning, minibatches)") {
    for (const char* problem : {"gaussian-sgld", "toy-multimin"}) {
      auto in = make_instance(problem);
      for (const char* window : {"0", "7"}) {
        const std::string pname = problem, wname = window;
        CAPTURE(pname);
        CAPTURE(wname);
        Sets s = {{"chains", "3"}, {"burn_in", "5"}, {"thin", "3"}, {"samples", "15"}, {"window", window}};
        if (std::string(problem) == "toy-multimin") s["minibatch"] = "4";
        Sets a = s, b = s;
        a["variant"] = "drop-hessian";
        b["variant"] = "two-pass";
        const HypergradResult ra = run(*make_sgld(in, a), in), rb = run(*make_sgld(in, b), in);
        CHECK(std::abs(ra.grad[0] - rb.grad[0]) <= kRounding * std::max(1.0, std::abs(static_cast<double>(ra.grad[0]))));
        CHECK(ra.outer_loss == doctest::Approx(rb.outer_loss).epsilon(kRounding));
        // Two runs of the chain: twice the gradients of the steps and of the kept samples (a window
        // without kept samples, here the first one, is run once).
        if (std::string(window) == "0") CHECK(rb.grad_evals == 2 * ra.grad_evals);
        if (std::string(window) == "7") CHECK(rb.grad_evals == 2 * ra.grad_evals - 3 * 7);
      }
    }
    // The same identity on a meta-initialization problem (θ₀ = λ, J_0 = I, λ not in L_T).
    auto sin = make_instance("sinusoid", {{"hidden", "4"}, {"inner_lr", "0.01"}});
    const Sets s = {{"chains", "2"}, {"burn_in", "3"}, {"samples", "6"}, {"tau", "0.01"}, {"window", "4"}};
    Sets a = s, b = s;
    a["variant"] = "drop-hessian";
    b["variant"] = "two-pass";
    const HypergradResult ra = run(*make_sgld(sin, a), sin), rb = run(*make_sgld(sin, b), sin);
    CHECK(std::sqrt(norm2(sub(ra.grad, rb.grad))) <= kRounding * std::max(1.0, std::sqrt(norm2(ra.grad))));
  }

  TEST_CASE("drop-hessian with a diagonal mixed partial (P-vector J) equals two-pass") {
    // `quadratic` has per-coordinate L2, ½Σ e^{λ_i}θ_i², so ∇²_θλ L_T = diag(e^λ ⊙ θ); it does not declare
    // it, so a wrapper does, which sends drop-hessian down its diagonal path.
    class DiagonalQuadratic final : public Problem {
     public:
      explicit DiagonalQuadratic(std::unique_ptr<Problem> p) : p_(std::move(p)) {}
      std::string name() const override { return "quadratic-diagonal"; }
      int64_t theta_dim() const override { return p_->theta_dim(); }
      int64_t lambda_dim() const override { return p_->lambda_dim(); }
      InnerConfig inner() const override { return p_->inner(); }
      Tensor init_lambda(Rng& rng) const override { return p_->init_lambda(rng); }
      Task sample_task(Rng& rng) const override { return p_->sample_task(rng); }
      ad::Var theta0(const ad::Var& l, const Task& t) const override { return p_->theta0(l, t); }
      ad::Var inner_loss(const ad::Var& th, const ad::Var& l, const Task& t) const override {
        return p_->inner_loss(th, l, t);
      }
      ad::Var outer_loss(const ad::Var& th, const ad::Var& l, const Task& t) const override {
        return p_->outer_loss(th, l, t);
      }
      Metrics evaluate(const Tensor& l) const override { return p_->evaluate(l); }
      bool mixed_partial_diagonal() const override { return true; }

     private:
      std::unique_ptr<Problem> p_;
    };
    Instance in = make_instance("quadratic", {{"dim", "6"}});
    in.problem = std::make_unique<DiagonalQuadratic>(std::move(in.problem));
    for (const char* window : {"0", "4"}) {
      const std::string wname = window;
      CAPTURE(wname);
      const Sets s = {{"chains", "2"}, {"burn_in", "3"}, {"samples", "10"}, {"thin", "2"}, {"tau", "0.05"},
                      {"window", window}};
      Sets a = s, b = s;
      a["variant"] = "drop-hessian";
      b["variant"] = "two-pass";
      const HypergradResult ra = run(*make_sgld(in, a), in), rb = run(*make_sgld(in, b), in);
      CHECK(norm2(ra.grad) > 0);
      CHECK(std::sqrt(norm2(sub(ra.grad, rb.grad))) <= kRounding * std::max(1.0, std::sqrt(norm2(ra.grad))));
    }
  }

  TEST_CASE("pathwise is the exact derivative of the sampled objective (common random numbers)") {
    // With the noise and minibatches held fixed, F̂(λ) = mean L_V over the kept samples is a smooth
    // function of λ and pathwise (no resets, J_0 = dθ₀/dλ) is its derivative.
    auto toy = make_instance("toy-multimin");
    auto e = make_sgld(toy, {{"variant", "pathwise"}, {"chains", "3"}, {"burn_in", "20"}, {"samples", "30"},
                             {"minibatch", "3"}, {"tau", "0.1"}});
    const double g = run(*e, toy).grad[0];
    const double h = sizeof(real) == 8 ? 1e-6 : 1e-3;
    Tensor lp = toy.lambda, lm = toy.lambda;
    lp[0] += static_cast<real>(h);
    lm[0] -= static_cast<real>(h);
    const double fd = (run(*e, toy, 0, &lp).outer_loss - run(*e, toy, 0, &lm).outer_loss) /
                      (static_cast<double>(lp[0]) - static_cast<double>(lm[0]));
    CHECK(g == doctest::Approx(fd).epsilon(sizeof(real) == 8 ? 1e-5 : 1e-2));
#ifdef BILEVEL_DOUBLE  // central differences in λ need double precision
    // Meta-initialization (θ₀ = λ): J_0 = I and λ only in θ₀.
    auto sin = make_instance("sinusoid", {{"hidden", "3"}, {"inner_lr", "0.01"}});
    auto es = make_sgld(sin, {{"variant", "pathwise"}, {"chains", "2"}, {"burn_in", "4"}, {"samples", "5"},
                              {"tau", "0.001"}});
    const HypergradResult gs = run(*es, sin);
    for (int64_t i : {0, 5, 11}) {
      Tensor p = sin.lambda, m = sin.lambda;
      p[i] += static_cast<real>(h);
      m[i] -= static_cast<real>(h);
      const double fdi = (run(*es, sin, 0, &p).outer_loss - run(*es, sin, 0, &m).outer_loss) / (2 * h);
      CHECK(gs.grad[i] == doctest::Approx(fdi).epsilon(1e-5).scale(1e-6));
    }
#endif
  }

  TEST_CASE("sgld cost counters") {
    auto in = make_instance("gaussian-sgld");
    const Sets s = {{"chains", "2"}, {"burn_in", "10"}, {"samples", "5"}, {"thin", "2"}};  // 20 steps, 5 samples
    auto count = [&](const char* v) {
      Sets t = s;
      t["variant"] = v;
      return run(*make_sgld(in, t), in);
    };
    // Per chain: 20 step gradients + 5 outer gradients (+ the graph at the last state where a variant needs it).
    CHECK(count("pathwise").grad_evals == 2 * 25);
    CHECK(count("pathwise").hvps == 2 * 20);  // H = 1 HVP-column per step
    CHECK(count("one-step").hvps == 2 * 5);
    CHECK(count("frozen").hvps == 2 * 5);
    CHECK(count("frozen").grad_evals == 2 * 26);
    CHECK(count("cov").hvps == 0);
    CHECK(count("drop-hessian").hvps == 2 * 20);
    CHECK(count("two-pass").grad_evals == 2 * 50);
    CHECK(count("two-pass").hvps == 2 * 20);
  }

  TEST_CASE("persistent chains hand their states over and restart dθ/dλ at 0") {
    auto in = make_instance("gaussian-sgld");
    auto e = make_sgld(in, {{"persistent", "true"}, {"chains", "3"}, {"burn_in", "0"}, {"samples", "4"}});
    const HypergradResult first = run(*e, in);
    REQUIRE(first.carry.size() == 3);
    // Before any end_step the chains start from θ₀; afterwards from the carried states, so the same
    // streams give a different estimate, and the closed form assumes a stationary start.
    CHECK(same_bits(run(*e, in).grad, first.grad));
    e->end_step({first});
    const HypergradResult second = run(*e, in);
    CHECK(!same_bits(second.grad, first.grad));
    CHECK(extra(second, "cf_expected") != doctest::Approx(extra(first, "cf_expected")));
    auto fresh = make_sgld(in, {{"chains", "3"}, {"burn_in", "0"}, {"samples", "4"}});
    CHECK(run(*fresh, in).carry.empty());
  }

  TEST_CASE("sgld refuses what does not apply, and says what to use") {
    auto quad = make_instance("quadratic", {{"dim", "10"}});
    CHECK_THROWS_WITH_AS(make_sgld(quad, {{"variant", "drop-hessian"}}), doctest::Contains("two-pass"), option_error);
    CHECK_THROWS_WITH_AS(make_sgld(quad, {{"variant", "pathwise"}, {"pathwise_max_entries", "50"}}),
                         doctest::Contains("pathwise_max_entries"), option_error);
    CHECK_THROWS_WITH_AS(make_sgld(quad, {{"variant", "cov"}, {"sampler", "exact"}}), doctest::Contains("closed-form"),
                         option_error);
    CHECK_THROWS_WITH_AS(make_sgld(quad, {{"minibatch", "2"}}), doctest::Contains("minibatch=0"), option_error);
    auto g = make_instance("gaussian-sgld");
    CHECK_THROWS_WITH_AS(make_sgld(g, {{"variant", "cov"}, {"tau", "0"}}), doctest::Contains("tau > 0"), option_error);
    CHECK_THROWS_WITH_AS(make_sgld(g, {{"variant", "pathwise"}, {"sampler", "exact"}}), doctest::Contains("variant=cov"),
                         option_error);
    auto sin = make_instance("sinusoid", {{"hidden", "4"}});
    CHECK_THROWS_WITH_AS(make_sgld(sin, {{"variant", "cov"}}), doctest::Contains("θ₀"), option_error);
    auto toy = make_instance("toy-multimin");
    CHECK_THROWS_WITH_AS(make_sgld(toy, {{"minibatch", "7"}}), doctest::Contains("exceeds"), option_error);
    CHECK_NOTHROW(make_sgld(quad, {{"variant", "two-pass"}}));
  }

  TEST_CASE("peak memory of one-step, two-pass and cov does not grow with the chain; pathwise holds P×H") {
    auto quad = make_instance("quadratic", {{"dim", "40"}});
    auto peak = [&](const char* v, const char* samples) {
      return run(*make_sgld(quad, {{"variant", v}, {"chains", "1"}, {"burn_in", "0"}, {"samples", samples},
                                   {"tau", "0.01"}, {"eta", "0.02"}}),
                 quad)
          .peak_bytes;
    };
    for (const char* v : {"one-step", "two-pass", "cov", "frozen", "pathwise"}) {
      const std::string variant = v;
      CAPTURE(variant);
      CHECK(peak(v, "300") == peak(v, "30"));
    }
    const int64_t P = 40, H = 40;
    // pathwise holds J and its update, two P×H matrices, on top of what cov holds.
    CHECK(peak("pathwise", "30") - peak("cov", "30") >= 2 * P * H * static_cast<int64_t>(sizeof(real)));
  }

#ifdef BILEVEL_DOUBLE
  TEST_CASE("[slow] every variant matches its closed-form expectation on the Gaussian problem (§8)") {
    // §8.3 instance (λ = ½, τ = 1, η = ¼) unless stated; each check is within 3 standard errors over 24
    // independent estimates, and the expectations are far enough apart for the checks to tell them apart.
    auto in = make_instance("gaussian-sgld");
    struct Case {
      Sets sets;
      double other;  // a competing closed form the estimate must not match
    };
    const std::vector<Case> cases = {
        // pathwise at η = 0.4: dF_η/dλ = −0.8656, F'(λ) = −0.9971.
        {{{"variant", "pathwise"}, {"eta", "0.4"}, {"burn_in", "60"}, {"samples", "400"}}, -0.997085},
        // cov on exact Gibbs draws targets F'(λ); on the chain the O(η)-biased −1.3215.
        {{{"variant", "cov"}, {"sampler", "exact"}, {"samples", "600"}}, -1.321534},
        {{{"variant", "cov"}, {"burn_in", "60"}, {"samples", "600"}}, -0.997085},
        {{{"variant", "one-step"}, {"burn_in", "60"}, {"samples", "200"}}, -0.968122},
        // First-order sums over windows of K = 10 steps: −1.4996 (A, C) and −3.0885 (D).
        {{{"variant", "drop-hessian"}, {"burn_in", "60"}, {"samples", "200"}, {"window", "10"}}, -0.808566},
        {{{"variant", "two-pass"}, {"burn_in", "60"}, {"samples", "200"}, {"window", "10"}}, -0.808566},
        {{{"variant", "frozen"}, {"burn_in", "60"}, {"samples", "200"}, {"window", "10"}}, -1.499618},
    };
    for (const auto& c : cases) {
      Sets s = c.sets;
      s["chains"] = "4";
      const std::string variant = s.at("variant");
      CAPTURE(variant);
      const MeanSe r = repeat(*make_sgld(in, s), in, 24);
      CAPTURE(r.mean);
      CAPTURE(r.se);
      CAPTURE(r.expected);
      CHECK(std::abs(r.mean - r.expected) < 3 * r.se);
      CHECK(std::abs(r.mean - c.other) > 3 * r.se);
    }
  }
#endif
}

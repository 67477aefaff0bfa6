// The shared building blocks (lib/hypergrad/unroll.hpp) where no built-in problem reaches them: a θ₀ that
// depends on λ through something other than the identity. Here θ₀(λ) = 2λ, so dθ₀/dλ = 2I and every
// estimator's pull-back through θ₀ is twice its meta-initialization value.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "hypergrad/unroll.hpp"

using namespace bilevel;

namespace {

// L_T(θ) = ½ Σ a_i θ_i² − Σ θ_i (a = 1, 2, 3; λ not in L_T), L_V(θ) = ½‖θ − (1, 1, 1)‖², θ₀ = 2λ.
class ScaledInitProblem final : public Problem {
 public:
  std::string name() const override { return "scaled-init"; }
  int64_t theta_dim() const override { return 3; }
  int64_t lambda_dim() const override { return 3; }
  InnerConfig inner() const override { return InnerConfig{4, real(0.2)}; }
  Tensor init_lambda(Rng&) const override { return Tensor::vector({real(0.3), real(-0.2), real(0.5)}); }
  Task sample_task(Rng&) const override { return Task{}; }
  ad::Var theta0(const ad::Var& lambda, const Task&) const override { return lambda * real(2); }
  ad::Var inner_loss(const ad::Var& theta, const ad::Var&, const Task&) const override {
    const ad::Var a = ad::constant(Tensor::vector({real(1), real(2), real(3)}));
    return ad::sum(a * ad::square(theta)) * real(0.5) - ad::sum(theta);
  }
  ad::Var outer_loss(const ad::Var& theta, const ad::Var&, const Task&) const override {
    return ad::sum(ad::square(theta - ad::constant(Tensor(Shape{3}, real(1))))) * real(0.5);
  }
  bool lambda_in_inner_loss() const override { return false; }
  Metrics evaluate(const Tensor&) const override { return {}; }
};

HypergradResult estimate(const std::string& method, const Problem& p, const Tensor& lambda) {
  std::map<std::string, std::string> none;
  const MethodInfo& m = find_method(method);
  Rng rng(1);
  return make_estimator(m, Options::resolve(method, m.options, none), p)->estimate(p, lambda, Task{}, rng);
}

}  // namespace

TEST_SUITE("hypergrad") {
  TEST_CASE("θ₀(λ) = 2λ: the Jacobian, its transpose product, and exact, fmd and fo against the closed form") {
    const ScaledInitProblem p;
    Rng rng(1);
    const Tensor lambda = p.init_lambda(rng);
    CHECK(theta0_depends_on_lambda(p, lambda, Task{}));
    const std::vector<Tensor> j = theta0_jacobian(p, lambda, Task{});
    REQUIRE(j.size() == 3);
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t i = 0; i < 3; ++i) CHECK(j[static_cast<size_t>(h)][i] == (i == h ? real(2) : real(0)));
    const Tensor v = Tensor::vector({real(1), real(-1), real(0.5)});
    const Tensor jt_v = theta0_vjp(p, lambda, Task{}, v);
    for (int64_t i = 0; i < 3; ++i) CHECK(jt_v[i] == 2 * v[i]);

    // Coordinate i runs θ ← (1 − α a_i)θ + α from θ₀ = 2λ_i: θ_r = c^r·2λ_i + (1 − c^r)/a_i with c = 1 − α a_i,
    // so dL_V/dλ_i = 2c^r(θ_r − 1); fo drops the c^r.
    const double alpha = 0.2;
    const HypergradResult ex = estimate("exact", p, lambda), fmd = estimate("fmd", p, lambda),
                          fo = estimate("fo", p, lambda);
    for (int64_t i = 0; i < 3; ++i) {
      const double a = static_cast<double>(i + 1), c = 1 - alpha * a, cr = std::pow(c, 4);
      const double theta_r = cr * 2 * static_cast<double>(lambda[i]) + (1 - cr) / a;
      CAPTURE(i);
      CHECK(static_cast<double>(ex.grad[i]) == doctest::Approx(2 * cr * (theta_r - 1)).epsilon(1e-5));
      CHECK(static_cast<double>(fmd.grad[i]) == doctest::Approx(2 * cr * (theta_r - 1)).epsilon(1e-5));
      CHECK(static_cast<double>(fo.grad[i]) == doctest::Approx(2 * (theta_r - 1)).epsilon(1e-5));
    }
  }

  TEST_CASE("linearize tracks λ only when a product or ∇_λ follows, on the full or a minibatch loss") {
    auto quad_info = find_problem("toy-multimin");
    std::map<std::string, std::string> none;
    const auto p = quad_info.make(Options::resolve("toy-multimin", quad_info.options, none), 0);
    Rng rng(2);
    const Tensor lambda = p->init_lambda(rng);
    const Task task = p->sample_task(rng);
    const Tensor theta = Tensor::vector({real(0.7), real(1.1)});
    const Linearization plain = linearize(*p, theta, lambda, task, {.create_graph = false});
    CHECK_FALSE(plain.mixed);
    CHECK_FALSE(plain.lambda.requires_grad());
    CHECK_FALSE(plain.grad_lambda.defined());
    const Linearization second = linearize(*p, theta, lambda, task);
    CHECK(second.mixed);
    CHECK(second.lambda.requires_grad());
    for (int64_t i = 0; i < 2; ++i) CHECK(second.grad.value()[i] == plain.grad.value()[i]);
    const Linearization with_lambda = linearize(*p, theta, lambda, task, {.create_graph = false, .lambda_grad = true});
    REQUIRE(with_lambda.grad_lambda.defined());
    // ∂L_T/∂λ = (e^λ/2)‖θ‖² for toy-multimin's penalty.
    const double want = 0.5 * std::exp(static_cast<double>(lambda[0])) * (0.7 * 0.7 + 1.1 * 1.1);
    CHECK(static_cast<double>(with_lambda.grad_lambda.value()[0]) == doctest::Approx(want).epsilon(1e-5));
    // The full batch as a minibatch gives the same gradient.
    std::vector<int64_t> all(static_cast<size_t>(p->inner_examples()));
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    const Linearization batch = linearize(*p, theta, lambda, task, {.create_graph = false, .batch = &all});
    for (int64_t i = 0; i < 2; ++i)
      CHECK(static_cast<double>(batch.grad.value()[i]) ==
            doctest::Approx(static_cast<double>(plain.grad.value()[i])).epsilon(1e-5));
  }
}

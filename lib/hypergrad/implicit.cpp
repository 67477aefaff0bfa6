#include "hypergrad/implicit.hpp"

#include "autodiff/functional.hpp"
#include "hypergrad/unroll.hpp"

namespace bilevel {

using namespace ad;

namespace {

class ImplicitEstimator final : public Estimator {
 public:
  ImplicitEstimator(LinearSolve solve, std::string residual_key)
      : solve_(std::move(solve)), residual_key_(std::move(residual_key)) {}
  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng&) const override {
    return hypergrad_implicit(p, lambda, task, solve_, residual_key_);
  }

 private:
  LinearSolve solve_;
  std::string residual_key_;
};

}  // namespace

HypergradResult hypergrad_implicit(const Problem& p, const Tensor& lambda, const Task& task, const LinearSolve& solve,
                                   const std::string& residual_key) {
  HypergradResult res;
  PeakMeter meter;
  Tensor theta_r = unroll(p, lambda, task, p.inner().steps, res);
  OuterGrad og = outer_grad(p, theta_r, lambda, task, res);
  res.outer_loss = og.loss;

  LinearSolution sol;
  const Tensor bx = implicit_correction(p, theta_r, lambda, task, og.d_theta, solve, nullptr, res, &sol);
  if (!residual_key.empty()) res.extras = {{residual_key, sol.residual}};
  res.grad = sub(og.d_lambda, bx);
  res.peak_bytes = meter.peak();
  return res;
}

Tensor implicit_correction(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                           const Tensor& rhs, const LinearSolve& solve, const std::vector<int64_t>* batch,
                           HypergradResult& res, LinearSolution* solution) {
  const Linearization lin = linearize(p, theta, lambda, task, {.batch = batch});  // reused by every product
  ++res.grad_evals;
  const MatVec hvp = [&lin](const Tensor& v) { return ad::hvp_from_grad(lin.grad, lin.theta, v); };
  LinearSolution sol = solve(hvp, rhs);
  res.hvps += sol.matvecs;
  Tensor bx = ad::mixed_vjp(lin.grad, lin.lambda, sol.x);  // Bᵀx, the mixed product
  ++res.hvps;
  if (solution) *solution = std::move(sol);
  return bx;
}

std::unique_ptr<Estimator> make_implicit_estimator(LinearSolve solve, std::string residual_key) {
  return std::make_unique<ImplicitEstimator>(std::move(solve), std::move(residual_key));
}

MemoryModel implicit_memory(const MemorySizes& z) {
  const double s = static_cast<double>(z.real_bytes);
  return {static_cast<double>(z.lin_peak_bytes) + s * (7.0 * static_cast<double>(z.P) + 2.0 * static_cast<double>(z.H)),
          "L+ + 7·P·s + 2·H·s", ""};
}

std::string implicit_refusal(const Problem& p, const std::string& method) {
  if (p.lambda_in_inner_loss()) return "";
  std::string msg = "method '" + method + "' does not apply to problem '" + p.name() +
                    "': λ enters only through the initialization θ₀, so the implicit function theorem gives no "
                    "gradient; use exact, ufo or fo";
  // A meta-initialization problem with iMAML's proximal term (γ/2)‖θ − λ‖² puts λ into the inner loss.
  for (const auto& spec : find_problem(p.name()).options) {
    if (spec.key == "proximal") {
      msg += ", or add iMAML's proximal term with --set proximal=γ (e.g. proximal=1), which puts λ into the inner "
             "loss so that " + method + " applies";
    }
  }
  return msg;
}

}  // namespace bilevel

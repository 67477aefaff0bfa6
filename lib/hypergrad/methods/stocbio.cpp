// Method `stocbio`: StocBiO (Ji, Yang, Liang, ICML 2021). Each outer step: `inner_iters` SGD steps on θ from its
// value at the previous step (warm start, checkpointed), the outer gradient at θ_T, then the implicit correction
// with H⁻¹∇_θf by a truncated Neumann series η Σ_{i=0}^{K} (I − ηĤ)^i ∇_θf (optim/linear_solvers.hpp) whose
// Hessian and mixed product are taken on one fresh minibatch:  D_λ = ∇_λ f − B̂ᵀ x.
// The outer gradient on one outer minibatch (outer_batch_size).
// Oracles per step: inner_iters + 2 gradients (inner SGD, outer, the linearization) and neumann_iters + 1 HVPs.
#include "hypergrad/implicit.hpp"
#include "hypergrad/single_loop.hpp"

namespace bilevel {

namespace {

class StocbioEstimator final : public SingleLoopEstimator {
 public:
  StocbioEstimator(const Options& o, const Problem& p)
      : SingleLoopEstimator("stocbio", {{"theta", Shape{p.theta_dim()}}}),
        batch_(resolved_batch_size(o, p, "stocbio")),
        outer_batch_(resolved_outer_batch_size(o, p, "stocbio")),
        lr_(resolved_theta_lr(o, p)),
        inner_iters_(o.get_int("inner_iters")),
        terms_(o.get_int("neumann_iters")),
        alpha_(resolved_v_lr(o, lr_)) {}

 protected:
  std::vector<Tensor> step(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng,
                           const std::vector<Tensor>& state, HypergradResult& res) const override {
    Tensor theta = state[0];
    inner_sgd(p, theta, lambda, task, inner_iters_, lr_, batch_, rng.split(0), res);
    Rng outer_rng = rng.split(2);
    const OuterGrad og = counted_outer_grad(p, theta, lambda, task, res, draw_outer_batch(p, outer_batch_, outer_rng));
    Rng batch_rng = rng.split(1);
    const InnerBatch batch = draw_inner_batch(p, batch_, batch_rng);
    const int64_t terms = terms_;
    const double alpha = alpha_;
    LinearSolution sol;
    const Tensor bx = implicit_correction(
        p, theta, lambda, task, og.d_theta,
        [terms, alpha](const MatVec& hvp, const Tensor& b) { return neumann_series(hvp, b, terms, alpha); },
        batch.ptr(), res, &sol);
    res.cost += batch.weight * static_cast<double>(2 + sol.matvecs);  // linearization, matvecs, Bᵀx
    res.grad = sub(og.d_lambda, bx);
    res.outer_loss = og.loss;
    return {std::move(theta)};
  }

 private:
  int64_t batch_, outer_batch_;
  double lr_;
  int64_t inner_iters_, terms_;
  double alpha_;
};

}  // namespace

MethodInfo stocbio_method_info() {
  OptionSpec alpha = v_lr_option();
  alpha.help = "Neumann series step η (0: the inner step size)";
  return {.name = "stocbio",
          .description = "StocBiO: warm-started inner SGD, then a Neumann-series H⁻¹∇_θL_V on one minibatch",
          .options = {batch_size_option(), outer_batch_size_option(), theta_lr_option(),
                      opt_int("inner_iters", 10, "inner SGD steps T per outer step (warm-started)", 0, 1000000),
                      opt_int("neumann_iters", 10, "terms K of the Neumann series (HVPs)", 0, 1000000), alpha},
          .refusal = [](const Problem& p) { return single_loop_refusal(p, "stocbio"); },
          .make = [](const Options& o, const Problem& p) -> std::unique_ptr<Estimator> {
            return std::make_unique<StocbioEstimator>(o, p);
          },
          // θ and its carry, ∇_θf, the Neumann sum, its term and product (6P); ∇_λf, B̂ᵀx, the direction (3H);
          // the linearization with one product on it.
          .memory = [](const Options&, const MemorySizes& z) { return single_loop_memory(z, true, 6, 3); }};
}

}  // namespace bilevel

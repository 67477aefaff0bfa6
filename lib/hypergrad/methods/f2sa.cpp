// Method `f2sa`: F2SA (Kwon, Kwon, Wright, Nowak, ICML 2023), the fully first-order penalty method: no Hessian-
// vector products. With the penalty μ it minimises f(θ_y, λ) + μ(g(θ_y, λ) − g(θ_z, λ)) over the two inner
// iterates: z tracks θ*(λ) = argmin g and y tracks θ*_μ(λ) = argmin f/μ + g. Each outer step, `inner_iters` times
// on one fresh minibatch each:  z ← z − ρ∇_θĝ(z),  y ← y − ρ(∇_θf(y)/μ + ∇_θĝ(y));  then on a fresh minibatch
//   D_λ = ∇_λ f(y) + μ(∇_λĝ(y) − ∇_λĝ(z)),
// which tends to the implicit hypergradient as y, z converge, with a bias O(1/μ). μ_t = μ₀ + δ·t at outer
// step t (`penalty`, `penalty_growth`). Each ∇f on a fresh outer minibatch (outer_batch_size). y, z persist across outer steps (checkpointed).
// Oracles per step: 3·inner_iters + 3 gradients (2 inner and 1 outer per inner step; outer and 2 inner at the end).
#include "hypergrad/single_loop.hpp"

namespace bilevel {

namespace {

class F2saEstimator final : public SingleLoopEstimator {
 public:
  F2saEstimator(const Options& o, const Problem& p)
      : SingleLoopEstimator("f2sa", {{"y", Shape{p.theta_dim()}}, {"z", Shape{p.theta_dim()}}}, 2),
        batch_(resolved_batch_size(o, p, "f2sa")),
        outer_batch_(resolved_outer_batch_size(o, p, "f2sa")),
        lr_(resolved_theta_lr(o, p)),
        inner_iters_(o.get_int("inner_iters")),
        mu0_(o.get_real("penalty")),
        growth_(o.get_real("penalty_growth")),
        mu_(mu0_) {}

  void begin_step(int64_t step) override { mu_ = mu0_ + growth_ * static_cast<double>(step); }
  Metrics state() const override { return {{"penalty", mu_}}; }

 protected:
  std::vector<Tensor> step(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng,
                           const std::vector<Tensor>& state, HypergradResult& res) const override {
    Tensor y = state[0], z = state[1];
    const Rng inner_rng = rng.split(0), outer_rng = rng.split(2);
    const real lr = static_cast<real>(lr_);
    for (int64_t t = 0; t < inner_iters_; ++t) {
      Rng r = inner_rng.split(static_cast<uint64_t>(t));
      const InnerBatch batch = draw_inner_batch(p, batch_, r);
      const Tensor gz = batch_inner_grad(p, z, lambda, task, batch, res);
      Rng ro = outer_rng.split(static_cast<uint64_t>(t));
      const OuterGrad fy = counted_outer_grad(p, y, lambda, task, res, draw_outer_batch(p, outer_batch_, ro));
      Tensor dy = batch_inner_grad(p, y, lambda, task, batch, res);
      axpy(static_cast<real>(1.0 / mu_), fy.d_theta, dy);
      axpy(-lr, gz, z);
      axpy(-lr, dy, y);
    }
    Rng r = rng.split(1);
    const InnerBatch batch = draw_inner_batch(p, batch_, r);
    Rng ro = outer_rng.split(static_cast<uint64_t>(inner_iters_));
    const OuterGrad og = counted_outer_grad(p, y, lambda, task, res, draw_outer_batch(p, outer_batch_, ro));
    const Tensor gy = batch_inner_grads(p, y, lambda, task, batch, res).second;
    const Tensor gz = batch_inner_grads(p, z, lambda, task, batch, res).second;
    res.grad = og.d_lambda;
    axpy(static_cast<real>(mu_), sub(gy, gz), res.grad);
    res.outer_loss = og.loss;
    return {std::move(y), std::move(z)};
  }

 private:
  int64_t batch_, outer_batch_;
  double lr_;
  int64_t inner_iters_;
  double mu0_, growth_, mu_;
};

}  // namespace

MethodInfo f2sa_method_info() {
  return {.name = "f2sa",
          .description = "F2SA: fully first-order penalty method, ∇_λL_V(y) + μ(∇_λL_T(y) − ∇_λL_T(z)), no HVPs",
          .options = {batch_size_option(), outer_batch_size_option(), theta_lr_option(),
                      opt_int("inner_iters", 10, "SGD steps on y and z per outer step (warm-started)", 0, 1000000),
                      opt_real("penalty", 10, "penalty μ₀ (the bias is O(1/μ))", 0, 1e300, true),
                      opt_real("penalty_growth", 0, "μ grows by this much per outer step: μ_t = μ₀ + δ·t", 0)},
          .refusal = [](const Problem& p) { return single_loop_refusal(p, "f2sa"); },
          .make = [](const Options& o, const Problem& p) -> std::unique_ptr<Estimator> {
            return std::make_unique<F2saEstimator>(o, p);
          },
          // y, z and their carry, ∇f(y), ∇ĝ(y), ∇ĝ(z) (7P); ∇_λ f, ∇_λĝ at y and z, the direction (4H); one
          // gradient's graph.
          .memory = [](const Options&, const MemorySizes& z) { return single_loop_memory(z, false, 7, 4); }};
}

}  // namespace bilevel

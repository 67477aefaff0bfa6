// Method `soba`: SOBA (Dagréou, Ablin, Vaiter, Moreau, NeurIPS 2022), one joint stochastic step per outer step on
// the inner solution θ, the linear-system direction v ≈ −H⁻¹∇_θf and λ, all at the same point (θ, v, λ):
//   D_θ = ∇_θ ĝ,  D_v = Ĥ v + ∇_θ f,  D_λ = B̂ᵀ v + ∇_λ f;   θ ← θ − ρD_θ,  v ← v − ρ_v D_v,  λ ← outer step on D_λ.
// ĝ, Ĥ, B̂ on one inner minibatch, f on one outer minibatch (hypergrad/single_loop.hpp). At a fixed point of the joint dynamics (D_θ = D_v
// = 0 with full batches) θ = θ*(λ), v = −H⁻¹∇_θf, and D_λ is the implicit hypergradient. θ and v persist across
// outer steps (checkpointed). Oracles per step: 2 gradients (inner on the batch, outer on the outer batch) and 1 HVP.
#include "hypergrad/single_loop.hpp"

namespace bilevel {

namespace {

class SobaEstimator final : public SingleLoopEstimator {
 public:
  SobaEstimator(const Options& o, const Problem& p)
      : SingleLoopEstimator("soba", {{"theta", Shape{p.theta_dim()}}, {"v", Shape{p.theta_dim()}}}),
        batch_(resolved_batch_size(o, p, "soba")),
        outer_batch_(resolved_outer_batch_size(o, p, "soba")),
        lr_(resolved_theta_lr(o, p)),
        v_lr_(resolved_v_lr(o, lr_)) {}

 protected:
  std::vector<Tensor> step(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng,
                           const std::vector<Tensor>& state, HypergradResult& res) const override {
    const Tensor &theta = state[0], &v = state[1];
    Rng batch_rng = rng.split(0);
    const InnerBatch batch = draw_inner_batch(p, batch_, batch_rng);
    Rng outer_rng = rng.split(1);
    const InnerBatch outer = draw_outer_batch(p, outer_batch_, outer_rng);
    const OuterGrad og = counted_outer_grad(p, theta, lambda, task, res, outer);
    const SecondOrder so = batch_second_order(p, theta, lambda, task, v, batch, res);
    return joint_step(theta, v, og, so.grad, so.hv, so.bv, lr_, v_lr_, res);
  }

 private:
  int64_t batch_, outer_batch_;
  double lr_, v_lr_;
};

}  // namespace

MethodInfo soba_method_info() {
  return {.name = "soba",
          .description = "SOBA: one joint SGD step on θ, v ≈ −H⁻¹∇_θL_V and λ per outer step (warm θ, v)",
          .options = {batch_size_option(), outer_batch_size_option(), theta_lr_option(), v_lr_option()},
          .refusal = [](const Problem& p) { return single_loop_refusal(p, "soba"); },
          .make = [](const Options& o, const Problem& p) -> std::unique_ptr<Estimator> {
            return std::make_unique<SobaEstimator>(o, p);
          },
          // θ, v and their carry, ∇_θf, Ĥv, ∇_θĝ, a sum (6P); ∇_λf, B̂ᵀv, the direction (3H); one second-order oracle.
          .memory = [](const Options&, const MemorySizes& z) { return single_loop_memory(z, true, 6, 3); }};
}

}  // namespace bilevel

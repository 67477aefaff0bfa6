// Method `amigo`: AmIGO (Arbel & Mairal, ICLR 2022). Each outer step: `inner_iters` SGD steps on θ and
// `v_iters` SGD steps on the linear system Hv = −∇_θf, both warm-started from the previous outer step
// (checkpointed), each step on a fresh minibatch:  v ← v − η(Ĥv + ∇_θf);  then D_λ = ∇_λ f + B̂ᵀv on a fresh
// minibatch. ∇f (both ∇_θf in the linear system and ∇_λf) on one outer minibatch per outer step
// (outer_batch_size). Oracles per step: inner_iters + 1 + (v_iters + 1) gradients (inner SGD, outer, the graph of each
// second-order product) and v_iters + 1 HVPs.
#include "hypergrad/single_loop.hpp"

namespace bilevel {

namespace {

class AmigoEstimator final : public SingleLoopEstimator {
 public:
  AmigoEstimator(const Options& o, const Problem& p)
      : SingleLoopEstimator("amigo", {{"theta", Shape{p.theta_dim()}}, {"v", Shape{p.theta_dim()}}}),
        batch_(resolved_batch_size(o, p, "amigo")),
        outer_batch_(resolved_outer_batch_size(o, p, "amigo")),
        lr_(resolved_theta_lr(o, p)),
        v_lr_(resolved_v_lr(o, lr_)),
        inner_iters_(o.get_int("inner_iters")),
        v_iters_(o.get_int("v_iters")) {}

 protected:
  std::vector<Tensor> step(const Problem& p, const Tensor& lambda, const Task& task, Rng& rng,
                           const std::vector<Tensor>& state, HypergradResult& res) const override {
    Tensor theta = state[0], v = state[1];
    inner_sgd(p, theta, lambda, task, inner_iters_, lr_, batch_, rng.split(0), res);
    Rng outer_rng = rng.split(2);
    const OuterGrad og = counted_outer_grad(p, theta, lambda, task, res, draw_outer_batch(p, outer_batch_, outer_rng));
    const Rng v_rng = rng.split(1);
    for (int64_t q = 0; q <= v_iters_; ++q) {
      Rng r = v_rng.split(static_cast<uint64_t>(q));
      const InnerBatch batch = draw_inner_batch(p, batch_, r);
      const SecondOrder so = batch_second_order(p, theta, lambda, task, v, batch, res);
      if (q == v_iters_) {
        res.grad = add(og.d_lambda, so.bv);  // the last product, on a fresh batch, gives B̂ᵀv
        break;
      }
      axpy(static_cast<real>(-v_lr_), add(so.hv, og.d_theta), v);
    }
    res.outer_loss = og.loss;
    return {std::move(theta), std::move(v)};
  }

 private:
  int64_t batch_, outer_batch_;
  double lr_, v_lr_;
  int64_t inner_iters_, v_iters_;
};

}  // namespace

MethodInfo amigo_method_info() {
  return {.name = "amigo",
          .description = "AmIGO: warm-started inner SGD and warm-started SGD on the linear system Hv = −∇_θL_V",
          .options = {batch_size_option(), outer_batch_size_option(), theta_lr_option(), v_lr_option(),
                      opt_int("inner_iters", 10, "inner SGD steps T per outer step (warm-started)", 0, 1000000),
                      opt_int("v_iters", 10, "SGD steps on the linear system per outer step (warm-started)", 0, 1000000)},
          .refusal = [](const Problem& p) { return single_loop_refusal(p, "amigo"); },
          .make = [](const Options& o, const Problem& p) -> std::unique_ptr<Estimator> {
            return std::make_unique<AmigoEstimator>(o, p);
          },
          // θ, v and their carry, ∇_θf, Ĥv, ∇_θĝ, a sum (6P); ∇_λf, B̂ᵀv, the direction (3H); one second-order oracle.
          .memory = [](const Options&, const MemorySizes& z) { return single_loop_memory(z, true, 6, 3); }};
}

}  // namespace bilevel

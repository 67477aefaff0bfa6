#include "hypergrad/reverse.hpp"

#include <algorithm>

#include "hypergrad/unroll.hpp"
#include "optim/gradient_descent.hpp"

namespace bilevel {

namespace {

class ReverseEstimator final : public Estimator {
 public:
  ReverseEstimator(int64_t k, Trajectory store, real clip) : k_(k), store_(store), clip_(clip) {}
  HypergradResult estimate(const Problem& p, const Tensor& lambda, const Task& task, Rng&) const override {
    HypergradResult res;
    PeakMeter meter;
    const int64_t k = k_ < 0 ? p.inner().steps : k_;
    res.grad = hypergrad_reverse(p, lambda, task, k, store_, res, &res.outer_loss, nullptr, clip_);
    res.peak_bytes = meter.peak();
    return res;
  }

 private:
  int64_t k_;  // −1: all steps
  Trajectory store_;
  real clip_;
};

}  // namespace

Tensor hypergrad_reverse(const Problem& p, const Tensor& lambda, const Task& task, int64_t k, Trajectory store,
                         HypergradResult& cost, double* outer_loss, Tensor* fo_grad, real clip) {
  const int64_t r = p.inner().steps;
  const real lr = p.inner().lr;
  BILEVEL_CHECK(k >= 0 && k <= r, "hypergrad_reverse: truncation k = " + std::to_string(k) +
                                      " outside [0, inner_steps = " + std::to_string(r) + "]");
  // Forward: θ_{r−k} with O(1) memory, then the last k steps kept for the adjoint pass — with their
  // gradient graphs, so the adjoint differentiates them without re-running forward and backward, or as
  // states only — unless recomputing.
  std::vector<Linearization> graphs;
  std::vector<Tensor> states;
  Tensor theta_r;
  if (store == Trajectory::recompute || k == 0) {
    theta_r = unroll(p, lambda, task, r, cost);
  } else {
    theta_r = unroll(p, lambda, task, r - k, cost);
    for (int64_t j = 0; j < k; ++j) {
      if (store == Trajectory::graphs) {
        graphs.push_back(linearize(p, std::move(theta_r), lambda, task));  // the graph's leaf keeps θ
        ++cost.grad_evals;
        const Linearization& lin = graphs.back();
        theta_r = stepped(lin.theta.value(), lin.grad.value(), lr);
      } else {
        Tensor next = stepped(theta_r, inner_grad(p, theta_r, lambda, task, cost), lr);
        states.push_back(std::move(theta_r));
        theta_r = std::move(next);
      }
    }
  }
  OuterGrad og = outer_grad(p, theta_r, lambda, task, cost);
  if (outer_loss) *outer_loss = og.loss;
  if (fo_grad) *fo_grad = add(og.d_lambda, theta0_vjp(p, lambda, task, og.d_theta));

  Tensor v = std::move(og.d_theta);
  Tensor g_lambda = std::move(og.d_lambda);
  for (int64_t j = r - 1; j >= r - k; --j) {
    // Each stored step is dropped once its adjoint step has used it.
    if (store == Trajectory::recompute) {
      adjoint_step(linearize(p, unroll(p, lambda, task, j, cost), lambda, task), lr, v, g_lambda, cost);
    } else if (store == Trajectory::graphs) {
      adjoint_step(graphs.back(), lr, v, g_lambda, cost);
      graphs.pop_back();
    } else {
      adjoint_step(linearize(p, std::move(states.back()), lambda, task), lr, v, g_lambda, cost);
      states.pop_back();
    }
    if (clip > 0) {
      const real bound = clip / lr;
      real* pv = v.data();
      for (int64_t i = 0; i < v.numel(); ++i) pv[i] = std::clamp(pv[i], -bound, bound);
    }
  }
  // Steps before r−k are treated first-order: dθ_{r−k}/dλ ≈ dθ₀/dλ.
  add_theta0_vjp(p, lambda, task, v, g_lambda);
  return g_lambda;
}

std::unique_ptr<Estimator> make_reverse_estimator(int64_t k, Trajectory store, real clip) {
  return std::make_unique<ReverseEstimator>(k, store, clip);
}

OptionSpec clip_option() {
  return opt_real("clip", 0.0,
                  "clip every element of α·v to ±clip after each adjoint step (the UFOM code's clip_grads = 0.1; 0 = off, "
                  "exact)",
                  0, 1e300);
}

MemoryModel reverse_memory(int64_t k_opt, Trajectory store, const MemorySizes& z) {
  const double base = unroll_base_bytes(z), s = static_cast<double>(z.real_bytes), P = static_cast<double>(z.P);
  const double L = static_cast<double>(z.lin_bytes), Lp = static_cast<double>(z.lin_peak_bytes);
  const double k = k_opt < 0 ? static_cast<double>(z.r) : static_cast<double>(k_opt);
  const std::string kk = k_opt < 0 ? "r" : std::to_string(k_opt);
  const std::string tail = " + 3·P·s + 2·H·s";
  if (k == 0) return {base + static_cast<double>(z.grad_bytes), "G" + tail, ""};
  const double recompute = base + Lp, states = k * P * s + Lp + base;
  switch (store) {
    case Trajectory::recompute: return {recompute, "L+" + tail, ""};
    case Trajectory::states:
      return {states, kk + "·P·s + L+" + tail,
              "recompute=true needs about " + bytes_text(recompute) + " (O(P + H), at O(r²) gradients)"};
    case Trajectory::graphs:
    default:
      return {k * L + Lp + base, kk + "·L + L+" + tail,
              "store=states needs about " + bytes_text(states) + " and recompute=true about " + bytes_text(recompute) +
                  " (O(P + H), at O(r²) gradients)"};
  }
}

OptionSpec recompute_option(const std::string& help) { return opt_bool("recompute", false, help); }

OptionSpec store_option() {
  return opt_choice("store", "graphs", {"graphs", "states"},
                    "what the stored trajectory keeps: each step's gradient graph (no recomputation; memory = the "
                    "step's activations × r) or only θ_j (memory = P × r; each adjoint step re-runs its step)");
}

Trajectory trajectory_option(const Options& o) {
  if (o.get_bool("recompute")) return Trajectory::recompute;
  return o.get_string("store") == "states" ? Trajectory::states : Trajectory::graphs;
}

}  // namespace bilevel

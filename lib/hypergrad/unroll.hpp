#pragma once
// Building blocks shared by the estimators: the inner loop, the reverse (adjoint) step and the
// pull-back through θ₀(λ). Every function counts its cost into a HypergradResult.
//
// Notation: θ_{j+1} = θ_j − α∇_θL_T(θ_j, λ), j = 0..r−1. For a vector v (P,), one adjoint step at θ_j is
//   v ← v − α H_j v,  g_λ ← g_λ − α B_jᵀ v,   H_j = ∇²_θθ L_T(θ_j, λ), B_j = ∂_λ∇_θ L_T(θ_j, λ),
// computed together by one double backward: ∇_{θ,λ} ⟨∇_θL_T(θ_j, λ), v⟩.
#include <vector>

#include "hypergrad/estimator.hpp"

namespace bilevel {

// ∇_θ L_T(θ, λ) (values only). +1 grad_eval.
Tensor inner_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task, HypergradResult& cost);
// θ₀ as a value.
Tensor theta0_value(const Problem& p, const Tensor& lambda, const Task& task);
// θ after `steps` inner steps from θ₀ (O(1) memory).
Tensor unroll(const Problem& p, const Tensor& lambda, const Task& task, int64_t steps, HypergradResult& cost);
// θ₀, …, θ_steps (O(steps) memory).
std::vector<Tensor> unroll_stored(const Problem& p, const Tensor& lambda, const Task& task, int64_t steps,
                                  HypergradResult& cost);

struct OuterGrad {
  double loss = 0.0;
  Tensor d_theta;   // ∇_θ L_V(θ, λ)  (P,)
  Tensor d_lambda;  // ∇_λ L_V(θ, λ)  (H,), zeros when λ is not in L_V
};
// +1 grad_eval.
OuterGrad outer_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                     HypergradResult& cost);

// The inner gradient at θ_j with its graph (create_graph), the linearization an adjoint step needs.
struct Linearization {
  ad::Var theta, lambda, grad;  // leaves θ_j and λ (λ tracked only when it enters L_T), ∇_θ L_T(θ_j, λ)
  bool mixed = false;           // λ in L_T: the adjoint step also accumulates B_jᵀ v
};
Linearization linearize(const Problem& p, const Tensor& theta_j, const Tensor& lambda, const Task& task);

// One adjoint step at θ_j: v ← v − α H_j v and g_lambda ← g_lambda − α B_jᵀ v (B_j term only when λ is in
// L_T). +1 hvp. The linearization's graph is kept (a stored trajectory differentiates it once).
void adjoint_step(const Linearization& lin, real lr, Tensor& v, Tensor& g_lambda, HypergradResult& cost);

// (∂θ₀/∂λ)ᵀ v: v itself for meta-initialization, zeros when θ₀ does not depend on λ, else by autodiff.
Tensor theta0_vjp(const Problem& p, const Tensor& lambda, const Task& task, const Tensor& v);

// What the forward pass of hypergrad_reverse keeps for its adjoint pass. All three give the same bits.
enum class Trajectory {
  graphs,     // each step's gradient graph: no recomputation; memory ∝ the step's activations × k
  states,     // θ_j only: each adjoint step re-runs step j's forward and backward; memory ∝ P × k
  recompute,  // nothing: θ_j rebuilt from θ₀ for each adjoint step (O(1) memory, O(r²) gradients)
};

// Exact hypergradient of the r-step objective by reverse mode (`store` says how the trajectory is kept).
// When `k` < r only the last k steps are differentiated; earlier steps are treated first-order (second
// derivatives dropped).
Tensor hypergrad_reverse(const Problem& p, const Tensor& lambda, const Task& task, int64_t k, Trajectory store,
                         HypergradResult& cost, double* outer_loss, Tensor* fo_grad = nullptr);

// Tracks peak tensor bytes of an estimate.
class PeakMeter {
 public:
  PeakMeter();
  int64_t peak() const;

 private:
  int64_t base_;
};

}  // namespace bilevel

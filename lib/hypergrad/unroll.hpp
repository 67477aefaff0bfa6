#pragma once
// Building blocks shared by the estimators: the inner loop, the linearization of the inner gradient at one
// state, the adjoint step, and θ₀(λ)'s Jacobian. Every function that evaluates a gradient or a second-order
// product counts it into a HypergradResult.
//
// Notation: θ_{j+1} = θ_j − α∇_θL_T(θ_j, λ), j = 0..r−1. For a vector v (P,), one adjoint step at θ_j is
//   v ← v − α H_j v,  g_λ ← g_λ − α B_jᵀ v,   H_j = ∇²_θθ L_T(θ_j, λ), B_j = ∂_λ∇_θ L_T(θ_j, λ),
// computed together by one double backward: ∇_{θ,λ} ⟨∇_θL_T(θ_j, λ), v⟩.
#include <functional>
#include <vector>

#include "hypergrad/estimator.hpp"

namespace bilevel {

// ∇_θ L_T(θ, λ) (values only). +1 grad_eval.
Tensor inner_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task, HypergradResult& cost);
// θ₀ as a value.
Tensor theta0_value(const Problem& p, const Tensor& lambda, const Task& task);
// θ after `steps` inner steps from θ₀ (O(1) memory). +steps grad_evals.
Tensor unroll(const Problem& p, const Tensor& lambda, const Task& task, int64_t steps, HypergradResult& cost);
// θ₀, …, θ_steps (O(steps) memory). +steps grad_evals.
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
// The same for another outer loss (θ, λ) → L (e.g. L_V on a minibatch of its examples). +1 grad_eval.
OuterGrad outer_grad_of(const Problem& p, const Tensor& theta, const Tensor& lambda,
                        const std::function<ad::Var(const ad::Var&, const ad::Var&)>& loss_of,
                        HypergradResult& cost);

// The inner gradient at one state θ with its graph: what every second-order product at that state is taken on
// (an adjoint step, a forward-mode column, a linear solve, an SGLD chain step).
struct LinearizeOptions {
  bool create_graph = true;  // the gradients are differentiable: H v and Bᵀv products follow
  bool lambda_grad = false;  // also ∇_λ L_T (when λ is in L_T)
  const std::vector<int64_t>* batch = nullptr;  // the minibatch loss L̂_T on these examples instead of L_T
};
struct Linearization {
  ad::Var theta, lambda;  // leaves θ and λ; λ requires grad only when `mixed`
  ad::Var grad;           // ∇_θ L_T(θ, λ)
  ad::Var grad_lambda;    // ∇_λ L_T(θ, λ) when asked for and λ is in L_T (else undefined)
  bool mixed = false;     // λ is in L_T and tracked: the mixed product B_jᵀ v = ∇_λ⟨grad, v⟩ is available
};
// λ is tracked when it is in L_T and a product or ∇_λ follows (create_graph or lambda_grad). The caller counts
// the gradient evaluation (+1 grad_eval): some linearizations replace one already counted.
Linearization linearize(const Problem& p, Tensor theta, const Tensor& lambda, const Task& task,
                        const LinearizeOptions& opts = {});

// One adjoint step at θ_j: v ← v − α H_j v and g_lambda ← g_lambda − α B_jᵀ v (B_j term only when λ is in
// L_T). +1 hvp. The linearization's graph is kept (a stored trajectory differentiates it once).
void adjoint_step(const Linearization& lin, real lr, Tensor& v, Tensor& g_lambda, HypergradResult& cost);

// Whether θ₀(λ, task) depends on λ at all (meta-initialization, or a θ₀ built from λ).
bool theta0_depends_on_lambda(const Problem& p, const Tensor& lambda, const Task& task);
// (∂θ₀/∂λ)ᵀ v: v itself for meta-initialization, zeros when θ₀ does not depend on λ, else by autodiff.
Tensor theta0_vjp(const Problem& p, const Tensor& lambda, const Task& task, const Tensor& v);
// out += (∂θ₀/∂λ)ᵀ v, without a copy of v for meta-initialization.
void add_theta0_vjp(const Problem& p, const Tensor& lambda, const Task& task, const Tensor& v, Tensor& out);
// dθ₀/dλ as H columns of shape (P,): the identity for meta-initialization (θ₀ = λ), zeros when θ₀ does not
// depend on λ, else by double backward (w(u) = (dθ₀/dλ)ᵀu is linear in u, so ∇_u⟨w(u), e_h⟩ = (dθ₀/dλ)e_h).
std::vector<Tensor> theta0_jacobian(const Problem& p, const Tensor& lambda, const Task& task);

// Tracks peak tensor bytes of an estimate.
class PeakMeter {
 public:
  PeakMeter();
  int64_t peak() const;

 private:
  int64_t base_;
};

}  // namespace bilevel

#pragma once
// The value function h(λ) = L_V(θ*(λ), λ) of a bilevel problem, measured independently of any estimator: θ*(λ)
// by a long run of the problem's own inner gradient descent, ∇h(λ) by the implicit function theorem at that θ
// with conjugate gradients. What the stochastic-bilevel literature reports as the optimisation metric
// (sub-optimality h(λ) − h*, and ‖∇h(λ)‖), logged by `train` when the run option value_steps > 0.
#include "hypergrad/estimator.hpp"

namespace bilevel {

struct ValueFunctionSpec {
  int64_t inner_steps = 1000;  // gradient-descent steps from θ₀ with the problem's α
  int64_t cg_iters = 100;      // conjugate-gradient iterations for H x = ∇_θL_V
  double cg_tol = 1e-10;       // CG stops at ‖r‖ ≤ cg_tol·‖∇_θL_V‖
};

struct ValueFunction {
  double value = 0;            // h(λ) ≈ L_V(θ_K, λ)
  double grad_norm = 0;        // ‖∇h(λ)‖ ≈ ‖∇_λL_V − Bᵀx‖ at θ_K (0 when λ is not in L_T and not in L_V)
  double inner_grad_norm = 0;  // ‖∇_θL_T(θ_K, λ)‖: how far θ_K is from stationary
  double cg_residual = 0;      // the CG residual ‖∇_θL_V − H x‖
};

// The measures above on one task. Deterministic; costs spec.inner_steps + 3 gradients and ≤ cg_iters + 1 HVPs,
// which the caller counts as evaluation, not estimator, work.
ValueFunction value_function(const Problem& p, const Tensor& lambda, const Task& task, const ValueFunctionSpec& spec);

}  // namespace bilevel

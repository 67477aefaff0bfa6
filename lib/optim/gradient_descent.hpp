#pragma once
// Plain gradient descent θ ← θ − α∇f(θ) on a loss built from lib/autodiff ops: the inner loop of every
// problem. The estimators run it through hypergrad/unroll (which counts its cost); the problems run it to
// evaluate a λ (adapt on a task, train under a weight decay).
#include <cstdint>

#include "autodiff/ops.hpp"
#include "tensor/tensor.hpp"

namespace bilevel {

// ∇f(θ) (values only, no graph kept). `loss` maps a (P,) Var to a scalar Var. theta: (P,).
template <class LossFn>
Tensor loss_gradient(const LossFn& loss, const Tensor& theta) {
  const ad::Var th = ad::leaf(theta);
  return ad::take_value(std::move(ad::grad(loss(th), {th})[0]));
}

// The same, lending θ's buffer to the graph's leaf instead of copying it (given back before returning).
template <class LossFn>
Tensor loss_gradient_lending(const LossFn& loss, Tensor& theta) {
  ad::Var th = ad::leaf(std::move(theta));
  Tensor g = ad::take_value(std::move(ad::grad(loss(th), {th})[0]));
  theta = ad::take_value(std::move(th));
  return g;
}

// θ ← θ − lr·grad. theta, grad: (P,).
inline void gradient_step(Tensor& theta, const Tensor& grad, real lr) { axpy(-lr, grad, theta); }
// θ − lr·grad as a new tensor (one pass; the same bits as gradient_step on a copy).
inline Tensor stepped(const Tensor& theta, const Tensor& grad, real lr) { return axpy_new(-lr, grad, theta); }

// `steps` steps of θ ← θ − lr·∇f(θ) from `theta`. With stop_when_non_finite, stops as soon as θ stops being
// finite (a step size too large for the curvature): a caller that scores θ then reports NaN instead of
// spending the remaining steps on it.
template <class LossFn>
Tensor gradient_descent(const LossFn& loss, Tensor theta, int64_t steps, real lr, bool stop_when_non_finite = false) {
  for (int64_t s = 0; s < steps; ++s) {
    if (stop_when_non_finite && !theta.all_finite()) break;
    gradient_step(theta, loss_gradient_lending(loss, theta), lr);
  }
  return theta;
}

}  // namespace bilevel

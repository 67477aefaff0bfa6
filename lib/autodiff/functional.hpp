#pragma once
// Second-order products built on grad(..., create_graph=true).
#include <functional>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/var.hpp"

namespace bilevel::ad {

using ScalarFn = std::function<Var(const Var&)>;

// ∇f(x) (value only).
Tensor gradient(const ScalarFn& f, const Tensor& x);
// ∇²f(x)·v by double backward: ∇ₓ⟨∇f(x), v⟩.
Tensor hvp(const ScalarFn& f, const Tensor& x, const Tensor& v);
// On an existing graph: g must be ∇_x of something, computed with create_graph=true. Returns ∇ₓ⟨g, v⟩.
Tensor hvp_from_grad(const Var& g, const Var& x, const Tensor& v);
// ∇ₓ⟨g, v⟩ for each x (v of g's size): a vector-Jacobian product seeded with v, so the scalar ⟨g, v⟩, whose value
// no caller needs, is never formed. What every Hessian- and mixed-vector product of the estimators is. v is lent
// to the seed (not copied when it has g's shape) and is unchanged on return.
std::vector<Tensor> vjp_values(const Var& g, Tensor& v, const std::vector<Var>& xs);
// Mixed product (∂_λ ∇_θ L)ᵀ v = ∇_λ ⟨∇_θ L, v⟩, with g_theta = ∇_θ L computed with create_graph=true.
Tensor mixed_vjp(const Var& g_theta, const Var& lambda, const Tensor& v);
// Jacobian-vector product J·v of y = f(x) by double backward: with u a dummy cotangent,
// g(u) = Jᵀu is linear in u and ∇_u⟨g(u), v⟩ = J v.
Tensor jvp(const std::function<Var(const Var&)>& f, const Tensor& x, const Tensor& v);

}  // namespace bilevel::ad

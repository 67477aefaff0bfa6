#include "autodiff/functional.hpp"

#include <stdexcept>

#include "base/errors.hpp"

namespace bilevel::ad {

Tensor gradient(const ScalarFn& f, const Tensor& x) {
  Var xv = leaf(x);
  return grad(f(xv), {xv})[0].value();
}

Tensor hvp_from_grad(const Var& g, const Var& x, const Tensor& v) {
  if (g.numel() != v.numel()) {
    throw internal_error("hvp: vector of shape " + v.shape().str() + " for a gradient of shape " +
                                g.shape().str());
  }
  // ∂⟨g, v⟩/∂x as a vector-Jacobian product seeded with v (no scalar ⟨g, v⟩ is formed: its value is unused).
  return grad({g}, {constant(v.reshaped(g.shape()))}, {x})[0].value();
}

Tensor hvp(const ScalarFn& f, const Tensor& x, const Tensor& v) {
  Var xv = leaf(x);
  Var g = grad(f(xv), {xv}, true)[0];
  return hvp_from_grad(g, xv, v);
}

Tensor mixed_vjp(const Var& g_theta, const Var& lambda, const Tensor& v) { return hvp_from_grad(g_theta, lambda, v); }

Tensor jvp(const std::function<Var(const Var&)>& f, const Tensor& x, const Tensor& v) {
  if (x.numel() != v.numel()) {
    throw internal_error("jvp: tangent of shape " + v.shape().str() + " for input " + x.shape().str());
  }
  Var xv = leaf(x);
  Var y = f(xv);
  Var u = leaf(Tensor(y.shape()));
  Var g = grad({y}, {u}, {xv}, true)[0];  // Jᵀu, linear in u
  Var gv = dot(g, constant(v.reshaped(g.shape())));
  return grad(gv, {u})[0].value();
}

}  // namespace bilevel::ad

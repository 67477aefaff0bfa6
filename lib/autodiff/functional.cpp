#include "autodiff/functional.hpp"

#include <stdexcept>

#include "base/errors.hpp"

namespace bilevel::ad {

Tensor gradient(const ScalarFn& f, const Tensor& x) {
  Var xv = leaf(x);
  return grad(f(xv), {xv})[0].value();
}

std::vector<Tensor> vjp_values(const Var& g, Tensor& v, const std::vector<Var>& xs) {
  if (g.numel() != v.numel()) {
    throw internal_error("hvp: vector of shape " + v.shape().str() + " for a gradient of shape " +
                                g.shape().str());
  }
  const bool lend = v.shape() == g.shape();
  std::vector<Var> seed{constant(lend ? std::move(v) : v.reshaped(g.shape()))};
  // The sweep never writes into a seed (an accumulator it shares is copied first), so v comes back unchanged.
  std::vector<Var> gx = grad({g}, seed, xs);
  if (lend) v = take_value(std::move(seed[0]));
  std::vector<Tensor> out;
  out.reserve(gx.size());
  for (Var& r : gx) out.push_back(take_value(std::move(r)));
  return out;
}

Tensor hvp_from_grad(const Var& g, const Var& x, const Tensor& v) {
  Tensor u = v;
  return std::move(vjp_values(g, u, {x})[0]);
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

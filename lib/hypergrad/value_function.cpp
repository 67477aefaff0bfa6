#include "hypergrad/value_function.hpp"

#include <cmath>

#include "hypergrad/implicit.hpp"
#include "hypergrad/unroll.hpp"

namespace bilevel {

ValueFunction value_function(const Problem& p, const Tensor& lambda, const Task& task, const ValueFunctionSpec& spec) {
  HypergradResult counts;  // evaluation work: counted nowhere
  const Tensor theta = unroll(p, lambda, task, spec.inner_steps, counts);
  const OuterGrad og = outer_grad(p, theta, lambda, task, counts);
  ValueFunction v;
  v.value = og.loss;
  v.inner_grad_norm = std::sqrt(norm2(inner_grad(p, theta, lambda, task, counts)));
  Tensor g = og.d_lambda;
  if (p.lambda_in_inner_loss()) {
    const int64_t iters = spec.cg_iters;
    const double tol = spec.cg_tol;
    LinearSolution sol;
    const Tensor bx = implicit_correction(
        p, theta, lambda, task, og.d_theta,
        [iters, tol](const MatVec& hvp, const Tensor& b) { return conjugate_gradient(hvp, b, iters, tol); }, nullptr,
        counts, &sol);
    g = sub(g, bx);
    v.cg_residual = sol.residual;
  }
  v.grad_norm = std::sqrt(norm2(g));
  return v;
}

}  // namespace bilevel

#include "hypergrad/unroll.hpp"

#include <stdexcept>

namespace bilevel {

using namespace ad;

PeakMeter::PeakMeter() : base_(MemoryMeter::live_bytes()) { MemoryMeter::reset_peak(); }
int64_t PeakMeter::peak() const { return MemoryMeter::peak_bytes() - base_; }

Tensor inner_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task, HypergradResult& cost) {
  Var th = leaf(theta);
  Var la = constant(lambda);
  Var loss = p.inner_loss(th, la, task);
  ++cost.grad_evals;
  return grad(loss, {th})[0].value();
}

Tensor theta0_value(const Problem& p, const Tensor& lambda, const Task& task) {
  NoGradGuard no_grad;
  return p.theta0(constant(lambda), task).value();
}

static void sgd_step(Tensor& theta, const Tensor& g, real lr) { axpy(-lr, g, theta); }

Tensor unroll(const Problem& p, const Tensor& lambda, const Task& task, int64_t steps, HypergradResult& cost) {
  Tensor theta = theta0_value(p, lambda, task);
  const real lr = p.inner().lr;
  for (int64_t j = 0; j < steps; ++j) sgd_step(theta, inner_grad(p, theta, lambda, task, cost), lr);
  return theta;
}

std::vector<Tensor> unroll_stored(const Problem& p, const Tensor& lambda, const Task& task, int64_t steps,
                                  HypergradResult& cost) {
  std::vector<Tensor> traj;
  traj.reserve(static_cast<size_t>(steps + 1));
  traj.push_back(theta0_value(p, lambda, task));
  const real lr = p.inner().lr;
  for (int64_t j = 0; j < steps; ++j) {
    Tensor next = traj.back();
    sgd_step(next, inner_grad(p, traj.back(), lambda, task, cost), lr);
    traj.push_back(std::move(next));
  }
  return traj;
}

OuterGrad outer_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                     HypergradResult& cost) {
  Var th = leaf(theta);
  Var la = leaf(lambda, p.lambda_in_outer_loss());
  Var loss = p.outer_loss(th, la, task);
  ++cost.grad_evals;
  OuterGrad out;
  out.loss = loss.item();
  auto g = grad(loss, {th, la});
  out.d_theta = g[0].value();
  out.d_lambda = g[1].value();
  return out;
}

Linearization linearize(const Problem& p, const Tensor& theta_j, const Tensor& lambda, const Task& task) {
  Linearization lin;
  lin.mixed = p.lambda_in_inner_loss();
  lin.theta = leaf(theta_j);
  lin.lambda = leaf(lambda, lin.mixed);
  lin.grad = grad(p.inner_loss(lin.theta, lin.lambda, task), {lin.theta}, true)[0];
  return lin;
}

void adjoint_step(const Linearization& lin, real lr, Tensor& v, Tensor& g_lambda, HypergradResult& cost) {
  Var s = dot(lin.grad, constant(v));
  ++cost.hvps;
  if (lin.mixed) {
    auto hv = grad(s, {lin.theta, lin.lambda});
    axpy(-lr, hv[0].value(), v);
    axpy(-lr, hv[1].value(), g_lambda);
  } else {
    auto hv = grad(s, {lin.theta});
    axpy(-lr, hv[0].value(), v);
  }
}

Tensor theta0_vjp(const Problem& p, const Tensor& lambda, const Task& task, const Tensor& v) {
  if (p.theta0_is_lambda()) return v.reshaped(lambda.shape());
  Var la = leaf(lambda);
  Var t0 = p.theta0(la, task);
  if (!t0.requires_grad()) return Tensor(lambda.shape());
  return grad({t0}, {constant(v.reshaped(t0.shape()))}, {la})[0].value();
}

Tensor hypergrad_reverse(const Problem& p, const Tensor& lambda, const Task& task, int64_t k, Trajectory store,
                         HypergradResult& cost, double* outer_loss, Tensor* fo_grad) {
  const int64_t r = p.inner().steps;
  const real lr = p.inner().lr;
  if (k < 0 || k > r) {
    throw option_error("truncation k = " + std::to_string(k) + " must lie in [0, inner_steps = " + std::to_string(r) +
                       "]");
  }
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
      Tensor next = theta_r;
      if (store == Trajectory::graphs) {
        graphs.push_back(linearize(p, theta_r, lambda, task));
        ++cost.grad_evals;
        sgd_step(next, graphs.back().grad.value(), lr);
      } else {
        sgd_step(next, inner_grad(p, theta_r, lambda, task, cost), lr);
        states.push_back(std::move(theta_r));
      }
      theta_r = std::move(next);
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
      adjoint_step(linearize(p, states.back(), lambda, task), lr, v, g_lambda, cost);
      states.pop_back();
    }
  }
  // Steps before r−k are treated first-order: dθ_{r−k}/dλ ≈ dθ₀/dλ.
  axpy(real(1), theta0_vjp(p, lambda, task, v), g_lambda);
  return g_lambda;
}

}  // namespace bilevel

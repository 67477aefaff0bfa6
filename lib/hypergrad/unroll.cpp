#include "hypergrad/unroll.hpp"

#include "autodiff/functional.hpp"
#include "optim/gradient_descent.hpp"

namespace bilevel {

using namespace ad;

PeakMeter::PeakMeter() : base_(MemoryMeter::live_bytes()) { MemoryMeter::reset_peak(); }
int64_t PeakMeter::peak() const { return MemoryMeter::peak_bytes() - base_; }

namespace {

// L_T(·, λ) on the task as a function of θ alone (λ a constant), counting each evaluation as a gradient.
auto inner_loss_of_theta(const Problem& p, const Var& lambda, const Task& task, HypergradResult& cost) {
  return [&p, &lambda, &task, &cost](const Var& th) {
    ++cost.grad_evals;
    return p.inner_loss(th, lambda, task);
  };
}

}  // namespace

Tensor inner_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task, HypergradResult& cost) {
  const Var la = constant(lambda);
  return loss_gradient(inner_loss_of_theta(p, la, task, cost), theta);
}

Tensor theta0_value(const Problem& p, const Tensor& lambda, const Task& task) {
  if (p.theta0_is_lambda()) return lambda;
  NoGradGuard no_grad;
  return p.theta0(constant(lambda), task).value();
}

Tensor unroll(const Problem& p, const Tensor& lambda, const Task& task, int64_t steps, HypergradResult& cost) {
  Tensor theta0 = theta0_value(p, lambda, task);
  if (steps == 0) return theta0;  // (truncated reverse mode asks for 0 steps: spare the copy of λ)
  const Var la = constant(lambda);
  return gradient_descent(inner_loss_of_theta(p, la, task, cost), std::move(theta0), steps, p.inner().lr);
}

std::vector<Tensor> unroll_stored(const Problem& p, const Tensor& lambda, const Task& task, int64_t steps,
                                  HypergradResult& cost) {
  std::vector<Tensor> traj;
  traj.reserve(static_cast<size_t>(steps + 1));
  traj.push_back(theta0_value(p, lambda, task));
  const real lr = p.inner().lr;
  for (int64_t j = 0; j < steps; ++j) {
    Tensor next = traj.back();
    gradient_step(next, inner_grad(p, traj.back(), lambda, task, cost), lr);
    traj.push_back(std::move(next));
  }
  return traj;
}

OuterGrad outer_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                     HypergradResult& cost) {
  return outer_grad_of(
      p, theta, lambda, [&](const Var& th, const Var& la) { return p.outer_loss(th, la, task); }, cost);
}

OuterGrad outer_grad_of(const Problem& p, const Tensor& theta, const Tensor& lambda,
                        const std::function<Var(const Var&, const Var&)>& loss_of, HypergradResult& cost) {
  Var th = leaf(theta);
  Var la = leaf(lambda, p.lambda_in_outer_loss());
  Var loss = loss_of(th, la);
  ++cost.grad_evals;
  OuterGrad out;
  out.loss = loss.item();
  auto g = grad(loss, {th, la});
  out.d_theta = take_value(std::move(g[0]));
  out.d_lambda = take_value(std::move(g[1]));
  return out;
}

Linearization linearize(const Problem& p, Tensor theta, const Tensor& lambda, const Task& task,
                        const LinearizeOptions& opts) {
  Linearization lin;
  lin.mixed = p.lambda_in_inner_loss() && (opts.create_graph || opts.lambda_grad);
  lin.theta = leaf(std::move(theta));
  lin.lambda = leaf(lambda, lin.mixed);
  const Var loss = opts.batch ? p.inner_loss_batch(lin.theta, lin.lambda, task, *opts.batch)
                              : p.inner_loss(lin.theta, lin.lambda, task);
  if (lin.mixed && opts.lambda_grad) {
    auto g = grad(loss, {lin.theta, lin.lambda}, opts.create_graph);
    lin.grad = g[0];
    lin.grad_lambda = g[1];
  } else {
    lin.grad = grad(loss, {lin.theta}, opts.create_graph)[0];
  }
  return lin;
}

void adjoint_step(const Linearization& lin, real lr, Tensor& v, Tensor& g_lambda, HypergradResult& cost) {
  ++cost.hvps;
  if (lin.mixed) {
    const auto hv = ad::vjp_values(lin.grad, v, {lin.theta, lin.lambda});
    axpy(-lr, hv[0], v);
    axpy(-lr, hv[1], g_lambda);
  } else {
    axpy(-lr, ad::vjp_values(lin.grad, v, {lin.theta})[0], v);
  }
}

bool theta0_depends_on_lambda(const Problem& p, const Tensor& lambda, const Task& task) {
  if (p.theta0_is_lambda()) return true;
  Var la = leaf(lambda);
  return p.theta0(la, task).requires_grad();
}

Tensor theta0_vjp(const Problem& p, const Tensor& lambda, const Task& task, const Tensor& v) {
  if (p.theta0_is_lambda()) return v.reshaped(lambda.shape());
  Var la = leaf(lambda);
  Var t0 = p.theta0(la, task);
  if (!t0.requires_grad()) return Tensor(lambda.shape());
  return grad({t0}, {constant(v.reshaped(t0.shape()))}, {la})[0].value();
}

void add_theta0_vjp(const Problem& p, const Tensor& lambda, const Task& task, const Tensor& v, Tensor& out) {
  if (p.theta0_is_lambda()) {
    axpy(real(1), v, out);
  } else {
    axpy(real(1), theta0_vjp(p, lambda, task, v), out);
  }
}

std::vector<Tensor> theta0_jacobian(const Problem& p, const Tensor& lambda, const Task& task) {
  const int64_t P = p.theta_dim(), H = p.lambda_dim();
  std::vector<Tensor> cols(static_cast<size_t>(H), Tensor(Shape{P}));
  if (p.theta0_is_lambda()) {
    for (int64_t h = 0; h < H; ++h) cols[static_cast<size_t>(h)][h] = real(1);
    return cols;
  }
  Var la = leaf(lambda);
  Var t0 = p.theta0(la, task);
  if (!t0.requires_grad()) return cols;
  Var u = leaf(Tensor(t0.shape()));
  Var w = grad({t0}, {u}, {la}, true)[0];  // the graph is reused by every column
  for (int64_t h = 0; h < H; ++h) {
    Tensor e(lambda.shape());
    e[h] = real(1);
    cols[static_cast<size_t>(h)] = grad(dot(w, constant(e)), {u})[0].value().reshaped(Shape{P});
  }
  return cols;
}

}  // namespace bilevel

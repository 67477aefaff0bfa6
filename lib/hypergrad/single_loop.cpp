#include "hypergrad/single_loop.hpp"

#include <algorithm>

#include "autodiff/functional.hpp"
#include "optim/gradient_descent.hpp"
#include "optim/sgld.hpp"

namespace bilevel {

using namespace ad;

OptionSpec batch_size_option() {
  return opt_int("batch_size", 0,
                 "examples per inner minibatch oracle (0: the full inner loss; needs a problem whose inner loss is a "
                 "mean over examples)",
                 0);
}

OptionSpec theta_lr_option() {
  return opt_real("theta_lr", 0.0, "step size ρ of the inner iterates (0: the problem's inner learning rate inner_lr)", 0);
}

namespace {

// The value b of batch-size option `key`, checked against the n examples of the problem's `loss` ("inner" or
// "outer"; n = 0: that loss is not a sum over examples).
int64_t checked_batch_size(const Options& o, const std::string& key, int64_t n, const std::string& loss,
                           const std::string& examples, const Problem& p, const std::string& method) {
  const int64_t b = o.get_int(key);
  if (b == 0) return 0;
  const std::string option = "option '" + key + "' of method '" + method + "': ";
  if (n == 0) {
    throw option_error(option + "problem '" + p.name() + "' has no per-example " + loss + " loss to sample; use " +
                       key + "=0 (the full " + loss + " loss)");
  }
  if (b > n) {
    throw option_error(option + std::to_string(b) + " exceeds the " + std::to_string(n) + " " + examples +
                       " of problem '" + p.name() + "'");
  }
  return b;
}

}  // namespace

int64_t resolved_batch_size(const Options& o, const Problem& p, const std::string& method) {
  return checked_batch_size(o, "batch_size", p.inner_examples(), "inner", "training examples", p, method);
}

OptionSpec outer_batch_size_option() {
  return opt_int("outer_batch_size", 0,
                 "examples per outer minibatch oracle (0: the full outer loss; needs a problem whose outer loss is a "
                 "sum or mean over examples)",
                 0);
}

int64_t resolved_outer_batch_size(const Options& o, const Problem& p, const std::string& method) {
  return checked_batch_size(o, "outer_batch_size", p.outer_examples(), "outer", "outer (validation) examples", p,
                            method);
}

double resolved_theta_lr(const Options& o, const Problem& p) {
  const double lr = o.get_real("theta_lr");
  return lr > 0 ? lr : static_cast<double>(p.inner().lr);
}

std::string single_loop_refusal(const Problem& p, const std::string& method) {
  if (p.lambda_in_inner_loss()) return "";
  return "method '" + method + "' does not apply to problem '" + p.name() +
         "': λ enters only through the initialization θ₀, so its value function does not depend on λ through θ*(λ); "
         "use exact, ufo or fo";
}

InnerBatch draw_inner_batch(const Problem& p, int64_t size, Rng& rng) {
  InnerBatch b;
  if (size == 0) return b;
  const int64_t n = p.inner_examples();
  b.idx = sgld_minibatch(n, size, rng);
  b.weight = static_cast<double>(size) / static_cast<double>(n);
  return b;
}

InnerBatch draw_outer_batch(const Problem& p, int64_t size, Rng& rng) {
  InnerBatch b;
  if (size == 0) return b;
  const int64_t m = p.outer_examples();
  b.idx = sgld_minibatch(m, size, rng);
  b.weight = static_cast<double>(size) / static_cast<double>(m);
  return b;
}

InnerBatch block_batch(int64_t count, int64_t size, int64_t j) {
  InnerBatch b;
  if (size == 0) return b;
  for (int64_t i = j * size; i < std::min(count, (j + 1) * size); ++i) b.idx.push_back(i);
  b.weight = static_cast<double>(b.idx.size()) / static_cast<double>(count);
  return b;
}

Tensor batch_inner_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                        const InnerBatch& batch, HypergradResult& res) {
  const Linearization lin = linearize(p, theta, lambda, task, {.create_graph = false, .batch = batch.ptr()});
  ++res.grad_evals;
  res.cost += batch.weight;
  return lin.grad.value();
}

std::pair<Tensor, Tensor> batch_inner_grads(const Problem& p, const Tensor& theta, const Tensor& lambda,
                                            const Task& task, const InnerBatch& batch, HypergradResult& res) {
  const Linearization lin =
      linearize(p, theta, lambda, task, {.create_graph = false, .lambda_grad = true, .batch = batch.ptr()});
  BILEVEL_CHECK(lin.grad_lambda.defined(), "batch_inner_grads: λ is not in the inner loss");
  ++res.grad_evals;
  res.cost += batch.weight;
  return {lin.grad.value(), lin.grad_lambda.value()};
}

SecondOrder batch_second_order(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                               const Tensor& v, const InnerBatch& batch, HypergradResult& res) {
  const Linearization lin = linearize(p, theta, lambda, task, {.create_graph = true, .batch = batch.ptr()});
  BILEVEL_CHECK(lin.mixed, "batch_second_order: λ is not in the inner loss");
  ++res.grad_evals;
  ++res.hvps;
  res.cost += 2 * batch.weight;
  Tensor u = v;  // lent to the product
  auto hv = ad::vjp_values(lin.grad, u, {lin.theta, lin.lambda});
  return {lin.grad.value(), std::move(hv[0]), std::move(hv[1])};
}

OuterGrad counted_outer_grad(const Problem& p, const Tensor& theta, const Tensor& lambda, const Task& task,
                             HypergradResult& res, const InnerBatch& batch) {
  res.cost += batch.weight;
  if (batch.idx.empty()) return outer_grad(p, theta, lambda, task, res);
  // On the batch loss L̂_V.
  return outer_grad_of(
      p, theta, lambda, [&](const Var& th, const Var& la) { return p.outer_loss_batch(th, la, task, batch.idx); },
      res);
}

void inner_sgd(const Problem& p, Tensor& theta, const Tensor& lambda, const Task& task, int64_t steps, double lr,
               int64_t batch_size, const Rng& rng, HypergradResult& res) {
  for (int64_t t = 0; t < steps; ++t) {
    Rng r = rng.split(static_cast<uint64_t>(t));
    const InnerBatch b = draw_inner_batch(p, batch_size, r);
    gradient_step(theta, batch_inner_grad(p, theta, lambda, task, b, res), static_cast<real>(lr));
  }
}

std::vector<Tensor> joint_step(const Tensor& theta, const Tensor& v, const OuterGrad& og, const Tensor& d_theta,
                               const Tensor& d_hv, const Tensor& d_bv, double lr, double v_lr, HypergradResult& res) {
  res.grad = add(og.d_lambda, d_bv);
  res.outer_loss = og.loss;
  Tensor theta_next = theta, v_next = v;
  axpy(static_cast<real>(-lr), d_theta, theta_next);
  axpy(static_cast<real>(-v_lr), add(d_hv, og.d_theta), v_next);
  return {std::move(theta_next), std::move(v_next)};
}

MemoryModel single_loop_memory(const MemorySizes& z, bool second_order, int p_vectors, int h_vectors,
                               double extra_numbers, const std::string& extra_formula) {
  const double s = static_cast<double>(z.real_bytes);
  MemoryModel m;
  // The inner oracle and the outer gradient are not alive at once: the larger of the two.
  m.bytes = static_cast<double>(std::max(second_order ? z.lin_peak_bytes : z.grad_bytes, z.outer_grad_bytes)) +
            s * (p_vectors * static_cast<double>(z.P) + h_vectors * static_cast<double>(z.H) + extra_numbers);
  m.formula = std::string(second_order ? "max(L+, F)" : "max(G, F)") + " + " + std::to_string(p_vectors) + "·P·s + " +
              std::to_string(h_vectors) + "·H·s" + (extra_formula.empty() ? "" : " + (" + extra_formula + ")·s");
  return m;
}

OptionSpec v_lr_option() {
  return opt_real("v_lr", 0.0, "step size on the linear-system direction v (0: the inner step size)", 0);
}

double resolved_v_lr(const Options& o, double inner_lr) {
  const double lr = o.get_real("v_lr");
  return lr > 0 ? lr : inner_lr;
}

SingleLoopEstimator::SingleLoopEstimator(std::string method, std::vector<std::pair<std::string, Shape>> layout,
                                         size_t from_theta0)
    : method_(std::move(method)), layout_(std::move(layout)), from_theta0_(from_theta0) {}

HypergradResult SingleLoopEstimator::estimate(const Problem& p, const Tensor& lambda, const Task& task,
                                              Rng& rng) const {
  HypergradResult res;
  res.cost = 0;
  PeakMeter meter;
  std::vector<Tensor> fresh;
  if (state_.empty()) {
    // The state before the first step: θ₀(λ, task), then zeros.
    const Tensor theta0 = theta0_value(p, lambda, task);
    for (size_t i = 0; i < layout_.size(); ++i)
      fresh.push_back(i < from_theta0_ ? theta0.reshaped(layout_[i].second) : Tensor(layout_[i].second));
  }
  const std::vector<Tensor>& state = state_.empty() ? fresh : state_;
  res.carry = step(p, lambda, task, rng, state, res);
  // The state lives between steps (it was allocated before the meter started): it is memory the method holds.
  int64_t held = 0;
  for (const Tensor& t : state) held += t.numel() * static_cast<int64_t>(sizeof(real));
  res.peak_bytes = meter.peak() + (state_.empty() ? 0 : held);
  return res;
}

void SingleLoopEstimator::absorb(std::vector<Tensor>& state, std::vector<Tensor>&& carry) const {
  state = std::move(carry);
}

void SingleLoopEstimator::end_step(const std::vector<HypergradResult>& results) {
  if (results.empty() || results[0].carry.empty()) return;
  std::vector<Tensor> carry = results[0].carry;
  if (state_.empty()) {
    // The first step started from θ₀ and zeros; memories that absorb() updates in place need the zeros here.
    for (const auto& [name, shape] : layout_) state_.emplace_back(shape);
  }
  absorb(state_, std::move(carry));
}

EstimatorState SingleLoopEstimator::save_state() const {
  EstimatorState s;
  for (size_t i = 0; i < state_.size(); ++i) s.tensors.emplace_back(layout_[i].first, state_[i]);
  return s;
}

void SingleLoopEstimator::load_state(const EstimatorState& s) {
  std::string expected;
  for (const auto& [name, shape] : layout_) expected += (expected.empty() ? "" : ", ") + name + " " + shape.str();
  bool fits = s.scalars.empty() && (s.tensors.empty() || s.tensors.size() == layout_.size());
  for (size_t i = 0; fits && i < s.tensors.size(); ++i)
    fits = s.tensors[i].first == layout_[i].first && s.tensors[i].second.shape() == layout_[i].second;
  if (!fits) {
    throw usage_error(method_ + ": saved state does not fit this estimator (expects none or the tensors " + expected +
                      ")");
  }
  state_.clear();
  for (const auto& [name, t] : s.tensors) state_.push_back(t);
}

}  // namespace bilevel

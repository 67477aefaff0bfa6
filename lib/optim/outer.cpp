#include "optim/outer.hpp"

#include <cmath>

#include "base/errors.hpp"
#include "tensor/parallel.hpp"

namespace bilevel {

OuterOptimizerConfig outer_optimizer_config(const Options& o) {
  OuterOptimizerConfig c;
  c.adam = o.get_string("outer_opt") == "adam";
  c.beta1 = o.get_real("adam_beta1");
  c.beta2 = o.get_real("adam_beta2");
  c.eps = o.get_real("adam_eps");
  return c;
}

OuterOptimizer::OuterOptimizer(const OuterOptimizerConfig& config, int64_t dim)
    : config_(config), m_(Shape{dim}), v_(Shape{dim}) {}

void OuterOptimizer::restore(const Tensor& first_moment, const Tensor& second_moment, int64_t steps_taken) {
  if (first_moment.numel() != m_.numel() || second_moment.numel() != v_.numel() || steps_taken < 0) {
    throw usage_error("outer optimizer state of sizes " + first_moment.shape().str() + " and " +
                      second_moment.shape().str() + " at step " + std::to_string(steps_taken) +
                      " does not fit λ of " + m_.shape().str());
  }
  m_ = first_moment.reshaped(m_.shape());
  v_ = second_moment.reshaped(v_.shape());
  t_ = steps_taken;
}

void OuterOptimizer::step(Tensor& lambda, const Tensor& g, double lr) {
  BILEVEL_CHECK(lambda.numel() == g.numel() && g.numel() == m_.numel(),
                "OuterOptimizer::step: λ " + lambda.shape().str() + ", g " + g.shape().str() + ", state " +
                    m_.shape().str());
  if (!config_.adam) {
    axpy(static_cast<real>(-lr), g, lambda);
    return;
  }
  ++t_;
  const double b1 = config_.beta1, b2 = config_.beta2;
  const double c1 = 1 - std::pow(b1, static_cast<double>(t_)), c2 = 1 - std::pow(b2, static_cast<double>(t_));
  // Element by element (a square root and two divisions each): in blocks on the threads, same bits.
  const real* pg = g.data();
  real *pm = m_.data(), *pv = v_.data(), *pl = lambda.data();
  const double eps = config_.eps;
  parallel_elements(g.numel(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const double gi = pg[i];
      const double m = b1 * pm[i] + (1 - b1) * gi;
      const double v = b2 * pv[i] + (1 - b2) * gi * gi;
      pm[i] = static_cast<real>(m);
      pv[i] = static_cast<real>(v);
      pl[i] -= static_cast<real>(lr * (m / c1) / (std::sqrt(v / c2) + eps));
    }
  });
}

}  // namespace bilevel

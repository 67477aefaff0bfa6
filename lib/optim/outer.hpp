#pragma once
// The outer optimizer: updates λ from the meta-batch's mean hypergradient g, once per outer step.
//
//   sgd    λ ← λ − lr·g
//   adam   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  λ ← λ − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
//
// Moments are accumulated in double from `real` g and stored in `real` (so the state is as large as λ).
#include <cstdint>

#include "base/options.hpp"
#include "tensor/tensor.hpp"

namespace bilevel {

struct OuterOptimizerConfig {
  bool adam = true;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// From the run options outer_opt, adam_beta1, adam_beta2, adam_eps.
OuterOptimizerConfig outer_optimizer_config(const Options& run_opts);

class OuterOptimizer {
 public:
  OuterOptimizer(const OuterOptimizerConfig& config, int64_t dim);
  // λ ← update(λ, g) with learning rate lr. lambda and g: (H,).
  void step(Tensor& lambda, const Tensor& g, double lr);

  // State, for checkpoints: the moment estimates and the number of steps taken.
  const Tensor& first_moment() const { return m_; }
  const Tensor& second_moment() const { return v_; }
  int64_t steps_taken() const { return t_; }
  // Restores a saved state (a checkpoint's moments and step count). Throws usage_error when the moments'
  // sizes are not this optimizer's dimension.
  void restore(const Tensor& first_moment, const Tensor& second_moment, int64_t steps_taken);

 private:
  OuterOptimizerConfig config_;
  Tensor m_, v_;
  int64_t t_ = 0;
};

}  // namespace bilevel

#pragma once
// `bilevel-opt check`: every requested estimator on one seeded problem instance, against the exact
// hypergradient (and closed forms where the problem has them). The JSON it writes holds the instance
// (λ, θ₀, the task's data, inner lr and steps, the model layout) so anyone can rebuild it elsewhere, and per
// estimator: the mean of `samples` estimates (fewer where the cost budget cuts them, see cost_budget), bias_norm = ‖mean − exact‖, relative_bias = bias_norm / ‖exact‖,
// cosine_to_exact (null when either vector is zero), variance (trace of the sample covariance),
// standard_error (of the mean: √(variance/samples)), and cost counters per sample (grad_evals, hvps, cost).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bilevel {

struct CheckParams {
  std::string problem;
  std::vector<std::string> methods;  // empty: every method that applies
  std::vector<std::string> sets;     // key=value (problem and method options)
  int64_t samples = 100;
  // Cost budget per method, in gradient evaluations (HypergradResult cost: gradients + HVPs where no cost is
  // set). A method whose first estimate costs c takes min(samples, max(1, ⌊budget / c⌋)) samples, and its
  // entry says so ("samples", "samples_cut_by_budget"): estimators whose cost grows with the parameter count
  // (fmd's P JVPs per step, sgld pathwise's dense P×H recurrence) would otherwise run for hours on a network,
  // while fo or exact (r + 1 and 2r + 1 gradients) keep their 100 samples.
  double cost_budget = 5000;
  uint64_t seed = 0;
  std::string out_file;              // "" : write nothing
  bool bias_variance = false;        // add the UFOM theory of the toys (run/check_ufo.hpp) as "bias_variance"
};

// Computes the check and writes it to params.out_file (atomically). Throws option_error for bad input,
// before any estimate is computed.
nlohmann::json run_check(const CheckParams& params);

// The summary table people read: one line per estimator (‖bias‖ beside its standard error and their ratio,
// relative bias, cosine, variance, cost).
std::string check_table_text(const nlohmann::json& check);

}  // namespace bilevel

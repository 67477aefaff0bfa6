#pragma once
// Hypergradient estimators: given λ and a task, return an estimate of d/dλ L_V(θ_r(λ), λ), where
// θ_r is the result of the problem's r-step inner loop, together with the outer loss and cost counters.
#include <memory>
#include <string>
#include <vector>

#include "hypergrad/memory_model.hpp"
#include "problems/problem.hpp"
#include "base/options.hpp"

namespace bilevel {

struct HypergradResult {
  Tensor grad;              // (H,)
  double outer_loss = 0.0;  // L_V(θ_r, λ) on the task
  int64_t grad_evals = 0;   // first-order gradient evaluations (inner steps, recomputations, outer gradient)
  int64_t hvps = 0;         // Hessian-vector and mixed second-order products
  // Oracle cost in full-batch units: every gradient or second-order product counts |batch|/n when it is taken on
  // a minibatch of a loss that is a mean over n examples, 1 otherwise. Estimators that only use full batches
  // leave it unset (< 0) and it equals grad_evals + hvps; see cost_of().
  double cost = -1.0;
  int64_t peak_bytes = 0;   // peak tensor bytes held by the estimate beyond what was live before it
  Metrics extras;           // estimator-specific per-task values (e.g. exact_drawn, d2, v2)
  std::vector<Tensor> carry;  // state handed to end_step (e.g. persistent SGLD chains' last states)
};

// What an estimator carries from one outer step to the next (adaptive-q statistics, persistent SGLD chains,
// warm-started inner solutions and linear-system directions, SAGA memories), as named tensors and scalars, for
// checkpoints (`train --resume`) and for moving a run between processes. Restoring a saved state and continuing
// must give bit-identical results, so scalars are stored with their exact bits by whoever serialises this.
struct EstimatorState {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::pair<std::string, double>> scalars;
  bool empty() const { return tensors.empty() && scalars.empty(); }
};

// The oracle cost of one estimate (HypergradResult::cost, or grad_evals + hvps when it was not set).
inline double cost_of(const HypergradResult& r) {
  return r.cost >= 0 ? r.cost : static_cast<double>(r.grad_evals + r.hvps);
}

class Estimator {
 public:
  virtual ~Estimator() = default;
  // Serial hooks around each outer step; begin_step may fix state for the step (adaptive q),
  // end_step sees every task's result in task-index order (deterministic for any thread count).
  virtual void begin_step(int64_t step) { (void)step; }
  // Thread-safe: called concurrently for the tasks of one meta-batch. All randomness from `rng`.
  virtual HypergradResult estimate(const Problem& problem, const Tensor& lambda, const Task& task,
                                   Rng& rng) const = 0;
  virtual void end_step(const std::vector<HypergradResult>& results) { (void)results; }
  // One estimate split across processes (run/distributed.hpp, when a meta-batch has fewer tasks than ranks):
  // an estimate made of independent parts (sgld: its chains) says how many there are, computes part k alone as
  // bytes (thread-safe, like estimate), and combines all parts' bytes, in part order, into exactly the result
  // estimate() returns with the same `rng` and task. Estimators that do not split keep one part and never see
  // the other two calls.
  virtual int64_t parts() const { return 1; }
  virtual std::string estimate_part(const Problem& problem, const Tensor& lambda, const Task& task, Rng& rng,
                                    int64_t part) const;
  virtual HypergradResult combine_parts(const Problem& problem, const Tensor& lambda, const Task& task, Rng& rng,
                                        const std::vector<std::string>& parts) const;
  // Estimator state worth logging on each curve row (e.g. the current q).
  virtual Metrics state() const { return {}; }
  // Persistent state between outer steps (see EstimatorState); stateless estimators keep the defaults.
  // load_state receives exactly what save_state returned (possibly in another process) and throws
  // usage_error when it does not fit this estimator (names or shapes differ).
  virtual EstimatorState save_state() const { return {}; }
  virtual void load_state(const EstimatorState& state) { (void)state; }
};

// One row of the --method table. Each method defines its row in its own file (lib/hypergrad/methods/<name>.cpp)
// and hypergrad/registry.cpp lists the rows, one line each.
struct MethodInfo {
  std::string name;
  std::string description;
  std::vector<OptionSpec> options = {};
  // Why the method cannot apply to `problem` whatever its options (the message names both and says what to use
  // instead), or "" when it applies. Null: applies to every problem.
  std::string (*refusal)(const Problem& problem) = nullptr;
  // Builds the estimator from resolved options; throws option_error when an option value does not suit
  // `problem` (the message says why and what to use instead).
  std::unique_ptr<Estimator> (*make)(const Options& opts, const Problem& problem) = nullptr;
  // Peak bytes of one estimate with these options (hypergrad/memory_model.hpp); null: not modelled, not checked.
  MemoryModel (*memory)(const Options& opts, const MemorySizes& sizes) = nullptr;
};

const std::vector<MethodInfo>& method_registry();
// Throws option_error naming the unknown name, a likely intended one and the valid ones.
const MethodInfo& find_method(const std::string& name);
// The estimator of `method` for `problem`: option_error with the refusal when it does not apply, else make().
std::unique_ptr<Estimator> make_estimator(const MethodInfo& method, const Options& opts, const Problem& problem);

}  // namespace bilevel

#pragma once
// `bilevel-opt search`: random search over λ — the baseline a gradient-based tuner must beat — at a cost
// budget, writing an ordinary run directory (config.json with method "random-search", curve.jsonl, lambda.bin
// and .npy = the best λ, result.json), so `compare`, `eval` and `--lambda_init_file` read it like any run.
//
// Candidate 0 is the problem's initial λ (where every gradient method starts); candidate k ≥ 1 draws each
// coordinate uniformly from [low, high] on stream (seed, stream_search, k). A candidate is scored by the mean
// outer loss after the inner solve on the run's meta-batch of tasks — the objective the estimators minimise,
// on the same task streams as `train` — and costs what that costs: the inner solve and the outer loss through
// the `fo` estimator, r + 1 gradient evaluations per task, counted by the same counters and budget as every
// method. The best candidate so far is evaluated (Problem::evaluate, the path of `eval`) every eval_every
// candidates and at the end; evaluation is not charged, as in `train`.
#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "run/train_config.hpp"

namespace bilevel {

// The search's own options (given with --set like the others): the box λ is drawn from.
const std::vector<OptionSpec>& search_option_specs();

struct SearchOutcome {
  std::string status;  // ok | interrupted | error
  nlohmann::json result;
};

// `params`: as for train (problem, config, --set, seed, budgets, threads, out); method is ignored. Throws
// option_error before writing anything for bad options or a problem with more than 1000 hyperparameters.
SearchOutcome run_random_search(TrainParams params, const std::atomic<bool>* stop = nullptr);

}  // namespace bilevel

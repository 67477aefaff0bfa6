#pragma once
// The outer loop of `bilevel-opt train`: one run directory per call (run/run_dir.hpp lists its files).
// Each outer step estimates the meta-batch's tasks (run/meta_batch.hpp), reduces them in task order, and
// updates λ with the outer optimizer; the run's state between steps is a RunState (run/run_state.hpp).
#include <atomic>
#include <nlohmann/json.hpp>
#include <string>

#include "run/train_config.hpp"

namespace bilevel {

struct TrainOutcome {
  std::string status;  // ok | diverged | interrupted | error
  nlohmann::json result;
};

// Runs the outer loop and writes the run directory. `stop` (may be null) is polled once per step: when
// set, the run ends after the current step with status "interrupted". Throws option_error (before writing
// anything) for an --out that cannot be used or a problem/method that cannot be built; a failure inside the
// loop ends the run with status "error" and its message in result.json.
TrainOutcome run_train(const ResolvedRun& run, const std::atomic<bool>* stop = nullptr);

}  // namespace bilevel

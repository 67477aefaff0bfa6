#pragma once
// The outer loop of `bilevel-opt train`: one run directory per call (run/run_dir.hpp lists its files).
// Each outer step estimates the meta-batch's tasks (run/meta_batch.hpp), reduces them in task order, and
// updates λ with the outer optimizer; the run's state between steps is a RunState (run/run_state.hpp).
#include <atomic>
#include <nlohmann/json.hpp>
#include <string>

#include "problems/problem.hpp"
#include "run/train_config.hpp"

namespace bilevel {

struct TrainOutcome {
  std::string status;  // ok | diverged | interrupted | error
  nlohmann::json result;
  int64_t resumed_from = -1;  // --resume: the checkpoint's step (0: there was none, the run started over)
};

// Runs the outer loop and writes the run directory, or (params.resume) continues the unfinished run in it from
// its checkpoint, bit for bit as if it had not stopped. `stop` (may be null) is polled once per step: when
// set, the run writes a checkpoint and ends with status "interrupted". Throws option_error (before writing
// anything) for an --out that cannot be used, a problem/method that cannot be built or a lambda_init_file
// that does not fit; a failure inside the loop ends the run with status "error" and its message in result.json.
TrainOutcome run_train(const ResolvedRun& run, const std::atomic<bool>* stop = nullptr);

// The λ of the run option lambda_init_file (a run directory, a .npy or a run's lambda.bin), or an empty tensor
// when it is not set. Throws option_error when it cannot be read, has another size than the problem's λ (the
// message shows the problem's layout) or holds non-finite values.
Tensor saved_initial_lambda(const Options& run_opts, const Problem& problem);

}  // namespace bilevel

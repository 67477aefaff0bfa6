#pragma once
// The outer loop of `bilevel-opt train`: one run directory per call.
//
//   config.json  fully resolved options, seed, version, build, threads (written first)
//   curve.jsonl  one row per logged outer step (appended as the run goes)
//   lambda.bin   final λ, raw `real` values (dtype and shape in result.json)
//   result.json  status, final metrics, totals (written last, atomically)
#include <atomic>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hypergrad/estimator.hpp"
#include "problems/problem.hpp"

namespace bilevel {

struct TrainParams {
  std::string problem;
  std::string method;
  std::string config_file;                  // TOML, optional
  std::vector<std::string> sets;            // "key=value" from --set, applied after the config file
  uint64_t seed = 0;
  int64_t steps = 0;                        // 0: not a limit
  int64_t budget_grad_evals = 0;            // 0: not a limit (counts grad_evals + hvps)
  double budget_seconds = 0;                // 0: not a limit (estimator time, evaluation excluded)
  int threads = 1;
  std::string out_dir;
  bool force = false;                       // overwrite a run directory that already has a result
  bool quiet = false;                       // no progress line
};

// Everything resolved before any file is written; throws option_error on bad input.
struct ResolvedRun {
  TrainParams params;
  Options problem_opts, method_opts, run_opts;
  nlohmann::json config;  // what config.json holds
};

// Run-loop options (settable with --set like problem and method options).
const std::vector<OptionSpec>& run_option_specs();

// Reads the TOML config file (flat keys, or [problem]/[method]/[run] tables) into key → text. Keys
// `problem`, `method`, `seed`, `steps`, `budget_grad_evals`, `budget_seconds`, `threads` fill the params
// if the command line did not set them.
std::map<std::string, std::string> read_config_file(const std::string& path);

ResolvedRun resolve_run(const TrainParams& params);

struct TrainOutcome {
  std::string status;  // ok | diverged | interrupted | error
  nlohmann::json result;
};

// Runs the outer loop and writes the run directory. `stop` (may be null) is polled once per step: when
// set, the run ends after the current step with status "interrupted".
TrainOutcome run_train(const ResolvedRun& run, const std::atomic<bool>* stop = nullptr);

}  // namespace bilevel

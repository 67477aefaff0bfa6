#pragma once
// The options of one `bilevel-opt train` run: the command line, an optional TOML config file, and the
// defaults of the problem, the method and the run loop, resolved into one record before anything is written.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/options.hpp"

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

// Reads the TOML config file (top-level keys, or tables [problem_options], [method_options], [run]) into
// key → value text, each value as `--set` would give it (base/config.hpp).
std::map<std::string, std::string> read_config_file(const std::string& path);

// Applies the config file (its keys `problem`, `method`, `seed`, `steps`, `budget_grad_evals`,
// `budget_seconds` fill the params the command line left unset), then --set, then the problem's run defaults;
// checks every name, key and value. Throws option_error naming the offending token.
ResolvedRun resolve_run(const TrainParams& params);

}  // namespace bilevel

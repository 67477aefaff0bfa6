#pragma once
// The options of one `bilevel-opt train` run: the command line, an optional TOML config file, and the
// defaults of the problem, the method and the run loop, resolved into one record before anything is written.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/config.hpp"
#include "base/options.hpp"

namespace bilevel {

struct TrainParams {
  std::string problem;
  std::string method;
  std::string config_file;                  // TOML, optional
  std::string from_dir;                     // a run directory whose config.json gives every option (--from)
  std::vector<std::string> sets;            // "key=value" from --set, applied after the config file
  uint64_t seed = 0;
  bool seed_given = false;                  // --seed was given (so a seed 0 still wins over a config's)
  int64_t steps = 0;                        // 0: not a limit
  double budget_cost = 0;                   // 0: not a limit (RunCounters::cost: grads + HVPs, full-batch units)
  double budget_seconds = 0;                // 0: not a limit (estimator time, evaluation excluded)
  int threads = 1;
  bool threads_given = false;               // --threads was given (else --from keeps the run's)
  std::string out_dir;
  bool resume = false;                      // out_dir is an unfinished run to continue (--resume): its
                                            // config.json gives every option, nothing else may be given
  bool force = false;                       // overwrite a run directory that already has a result
  bool quiet = false;                       // no progress line
  std::vector<std::string> command_line;    // argv as given, recorded in config.json
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
// key → value text, each value as `--set` would give it (base/config.hpp). A run's config.json given here is
// refused with the command that reruns it (--from).
std::map<std::string, std::string> read_config_file(const std::string& path);

// A run directory's config.json as the same key → value text (problem, method, seed, steps, budget_cost,
// budget_seconds, threads and every problem, method and run option), so `--from DIR` reruns it exactly.
// Throws option_error naming `flag` and the file when it is missing or not a run's config.
std::map<std::string, std::string> read_run_config(const std::string& run_dir, const std::string& flag = "--from");

// config_value_text (a config.json value as option text) lives in base/config.hpp.

// Applies --from's config.json, then the config file (keys `problem`, `method`, `seed`, `steps`,
// `budget_cost`, `budget_seconds` fill the params the command line left unset), then --set, then the
// problem's run defaults; checks every name, key and value. Throws option_error naming the offending token:
// an option that the problem and method do not take says which ones do.
ResolvedRun resolve_run(const TrainParams& params);

// The message for option keys nobody took: per key, which methods or problems take it (else a "did you
// mean" among `valid`, the keys valid here). `here` names who was asked ("method 'fo' or problem 'quadratic'").
std::string unplaced_keys_message(const std::map<std::string, std::string>& left, const std::string& here,
                                  const std::vector<std::string>& valid);

}  // namespace bilevel

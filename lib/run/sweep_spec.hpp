#pragma once
// A sweep spec: which `train` runs a sweep consists of, their options, their directory names and shards.
//
// Spec (TOML; experiments/sweeps/README.md documents it with examples):
//   problem, method, seed | seeds, steps, budget_cost, budget_seconds, config  → train's flags
//   threads                                                                          → per-run threads
//   description                                                                      → kept in the index
//   any other key, top level or in [set] / [problem_options] / [method_options] / [run] → --set key=value
//   a list value is an axis; axes expand as a cartesian product, in the order they appear in the file
//   [zip] (or several [[zip]]): a table of equal-length lists that vary together; "" = option not given
//
// A run's directory name is built from the options that vary across the sweep ("method=fo,seed=1"), so it
// is a pure function of the spec. `--shard I/N` takes the runs whose position k (0-based, expansion order)
// has k mod N = I − 1: disjoint slices that together are the whole sweep, with no coordination needed.
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "run/train_config.hpp"

namespace bilevel {

// One run of a sweep: every option assignment (spec order), and the ones that vary across the sweep.
struct SweepRun {
  size_t index = 0;                                              // position in the full expansion
  std::string name;                                              // directory name under OUT/runs
  std::vector<std::pair<std::string, std::string>> assignments;  // key → value text, "" values dropped
  std::vector<std::pair<std::string, std::string>> varying;      // the keys that make up the name
};

struct SweepSpec {
  std::string path;
  std::string text;                  // the spec file as read (copied to OUT/spec.toml)
  std::string description;
  std::vector<std::string> axes;     // keys that vary, in name order
  int threads = 0;                   // per-run threads from the spec (0: not given)
  std::vector<SweepRun> runs;
};

// Parses and expands a spec. Throws option_error naming the file, the key and what would be valid.
SweepSpec sweep_spec_parse(const std::string& toml_text, const std::string& path);
SweepSpec sweep_spec_read(const std::string& path);

// The config.json each run will have, in run order: every run's options checked as `train` would (problem,
// method and option names, values, ranges), so a bad spec fails before anything is launched. Throws
// option_error naming the run.
std::vector<nlohmann::json> sweep_spec_configs(const SweepSpec& spec);
// The same check, for callers that only want to know the spec is valid.
void sweep_spec_validate(const SweepSpec& spec);

// TrainParams of a run (without out_dir and threads). Relative config paths are taken from the spec's folder.
TrainParams sweep_run_params(const SweepSpec& spec, const SweepRun& run);

// The child's argument vector: EXE train --problem … --method … [--config F] [--set k=v]… [--seed S]
// [--steps N] [--budget-cost N] [--budget-seconds S] --threads T --out RUN_DIR --quiet --force.
std::vector<std::string> sweep_train_argv(const SweepSpec& spec, const SweepRun& run, const std::string& exe,
                                          const std::filesystem::path& run_dir, int threads);

// "I/N" with 1 ≤ I ≤ N. Throws option_error otherwise.
struct SweepShard {
  int index = 1;
  int count = 1;
};
SweepShard sweep_shard_parse(const std::string& text);
bool sweep_shard_has(const SweepShard& shard, size_t run_index);

}  // namespace bilevel

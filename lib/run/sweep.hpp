#pragma once
// `bilevel-opt sweep`: a grid of `train` runs from a TOML spec, each run a child process writing its own run
// directory under OUT/runs/NAME, with an index of all runs in OUT/index.json (and OUT/index.md).
//
// Spec (TOML; experiments/sweeps/README.md documents it with examples):
//   problem, method, seed | seeds, steps, budget_grad_evals, budget_seconds, config  → train's flags
//   threads                                                                          → per-run threads
//   description                                                                      → kept in the index
//   any other key, top level or in [set] / [problem_options] / [method_options] / [run] → --set key=value
//   a list value is an axis; axes expand as a cartesian product, in the order they appear in the file
//   [zip] (or several [[zip]]): a table of equal-length lists that vary together; "" = option not given
//
// A run's directory name is built from the options that vary across the sweep ("method=fo,seed=1"), so it
// is a pure function of the spec. `--shard I/N` takes the runs whose position k (0-based, expansion order)
// has k mod N = I − 1: disjoint slices that together are the whole sweep, with no coordination needed.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "run/train.hpp"

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

// Checks every run's options as `train` would (problem, method and option names, values, ranges), so a bad
// spec fails before anything is launched. Throws option_error naming the run.
void sweep_spec_validate(const SweepSpec& spec);

// TrainParams of a run (without out_dir and threads). Relative config paths are taken from the spec's folder.
TrainParams sweep_run_params(const SweepSpec& spec, const SweepRun& run);

// "I/N" with 1 ≤ I ≤ N. Throws option_error otherwise.
struct SweepShard {
  int index = 1;
  int count = 1;
};
SweepShard sweep_shard_parse(const std::string& text);
bool sweep_shard_has(const SweepShard& shard, size_t run_index);

// The child's argument vector: EXE train --problem … --method … [--config F] [--set k=v]… [--seed S]
// [--steps N] [--budget-grad-evals N] [--budget-seconds S] --threads T --out RUN_DIR --quiet --force.
std::vector<std::string> sweep_train_argv(const SweepSpec& spec, const SweepRun& run, const std::string& exe,
                                          const std::filesystem::path& run_dir, int threads);

// State of a run directory on disk: "pending" (no directory), "incomplete" (no readable result.json), or
// result.json's status (ok | diverged | interrupted | error).
std::string sweep_run_state(const std::filesystem::path& run_dir);

struct SweepParams {
  std::string spec_file;
  std::string out_dir;
  int jobs = 1;
  int threads = 0;          // total threads to divide among the jobs; 0: spec's per-run threads or all CPUs
  bool resume = false;      // skip runs whose result.json says ok, rerun the rest
  bool dry_run = false;     // list the runs, write nothing
  SweepShard shard;
  std::string train_exe = "/proc/self/exe";  // binary with the `train` subcommand
  bool progress = true;     // one line per finished run on stderr
};

struct SweepOutcome {
  size_t runs_total = 0;     // in the whole spec
  size_t runs_in_shard = 0;
  size_t skipped = 0;        // already ok (--resume)
  size_t launched = 0;
  size_t not_started = 0;    // left when the sweep was stopped
  std::map<std::string, size_t> finished;  // status → count, for the runs launched here
  bool stopped = false;      // SIGINT/SIGTERM (or *stop) ended the sweep early
  int threads_per_run = 1;
  std::string listing;       // --dry-run: the runs, one a line
};

// Runs the sweep (see the header comment). Stops launching when SIGINT or SIGTERM arrives or `stop` (may be
// null) becomes true, forwards SIGTERM to the runs in flight (SIGKILL on a second signal) and waits for
// them. Children die with the sweep (PR_SET_PDEATHSIG), so a SIGKILLed sweep loses only its runs in flight.
// Throws option_error for a bad spec or options, an existing sweep without --resume, or a finished run made
// with different options than the spec now gives; nothing is launched then.
SweepOutcome run_sweep(const SweepParams& params, const std::atomic<bool>* stop = nullptr);

}  // namespace bilevel

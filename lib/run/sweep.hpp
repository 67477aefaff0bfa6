#pragma once
// `bilevel-opt sweep`: a grid of `train` runs from a TOML spec (run/sweep_spec.hpp), each run a child process
// writing its own run directory under OUT/runs/NAME, with an index of all runs in OUT/index.json and
// OUT/index.md (run/sweep_index.hpp). This file is the scheduler: which runs to do, launching them N at a
// time through lib/sys, and stopping.
#include <atomic>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "run/sweep_spec.hpp"

namespace bilevel {

struct SweepParams {
  std::string spec_file;
  std::string out_dir;
  int jobs = 1;
  int threads = 0;          // total threads to divide among the jobs; 0: spec's per-run threads or all CPUs
  bool resume = false;      // skip runs whose result.json says ok, rerun the rest
  bool dry_run = false;     // list the runs, write nothing
  bool add = false;         // --add: OUT holds another spec's sweep; add this spec's runs (its index replaces)
  SweepShard shard;
  std::string train_exe = "/proc/self/exe";  // binary with the `train` subcommand
  bool progress = true;     // one line per finished run on stderr
  // Words put before each run's command line, e.g. {"mpirun", "-np", "4"}: each run is launched through it
  // (its first word is looked up on PATH; no shell). Empty: runs are started directly.
  std::vector<std::string> launcher;
};

// --launcher's text split at spaces into words (no quoting: a launcher needing a word with a space belongs in
// a wrapper script). Throws option_error when it is empty or its program is not on PATH.
std::vector<std::string> sweep_launcher_parse(const std::string& text);

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
  std::string index_error;   // the first failed write of the index ("" if every one succeeded)
};

// Runs the sweep. Stops launching when SIGINT or SIGTERM arrives or `stop` (may be null) becomes true,
// forwards SIGTERM to the runs in flight (SIGKILL on a second signal) and waits for them. Children die with
// the sweep (PR_SET_PDEATHSIG), so a SIGKILLed sweep loses only its runs in flight. Throws option_error for
// a bad spec or options, an existing sweep without --resume, or a finished run made with different options
// than the spec now gives; nothing is launched then.
SweepOutcome run_sweep(const SweepParams& params, const std::atomic<bool>* stop = nullptr);

// The closing line for people: "N runs launched: K ok, …; S already ok; index in OUT/index.json".
std::string sweep_summary(const SweepParams& params, const SweepOutcome& outcome);

}  // namespace bilevel

// bilevel-opt sweep: run a grid of train runs from a spec file, each in its own child process.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "run/sweep.hpp"

namespace bilevel::app {

namespace {
struct SweepCliOptions {
  SweepParams params;
  std::string shard;
  std::string launcher;
};
}  // namespace

void setup_sweep(CLI::App& app) {
  auto opts = std::make_shared<SweepCliOptions>();
  auto* sub = app.add_subcommand(
      "sweep",
      "Run a grid of train runs from a TOML spec. Format: experiments/sweeps/README.md; each run is a child "
      "process writing OUT/runs/NAME, with an index of all runs in OUT/index.json and OUT/index.md.");
  sub->add_option("SPEC", opts->params.spec_file, "Sweep spec (TOML)")->required();
  sub->add_option("--out", opts->params.out_dir, "Sweep directory (runs/NAME per run, index.json, index.md)")
      ->type_name("DIR")
      ->required();
  sub->add_option("--jobs", opts->params.jobs, "Runs at a time")
      ->type_name("N")
      ->capture_default_str()
      ->check(integer_at_least(1));
  sub->add_option("--threads", opts->params.threads,
                  "Threads for the whole sweep, divided among the jobs (default: the spec's per-run `threads`, "
                  "else all CPUs divided among the jobs)")
      ->type_name("N")
      ->check(integer_at_least(1));
  sub->add_flag("--resume", opts->params.resume,
                "Continue a sweep: skip runs whose result.json says ok, rerun the rest");
  sub->add_option("--shard", opts->shard,
                  "Run only slice I of N (runs k with k mod N = I-1), e.g. --shard $((SLURM_ARRAY_TASK_ID+1))/8")
      ->type_name("I/N");
  sub->add_option("--launcher", opts->launcher,
                  "Start each run through this command (words split at spaces, no shell), e.g. 'mpirun -np 4' "
                  "with a binary built with MPI: each run spans the launcher's ranks")
      ->type_name("CMD");
  sub->add_flag("--dry-run", opts->params.dry_run, "List the runs (and their train command lines); run nothing");
  sub->add_flag("--add", opts->params.add,
                "--out holds another spec's sweep: add this spec's runs to it (else refused, so that its index is "
                "not replaced)");
  sub->add_flag("--quiet", [opts](int64_t) { opts->params.progress = false; }, "No progress lines");
  sub->footer(examples_footer({
      "bilevel-opt sweep experiments/sweeps/ufo-counterexample.toml --out runs/cx --jobs 2",
      "bilevel-opt sweep experiments/sweeps/ufo-counterexample.toml --out runs/cx --jobs 2 --resume",
      "bilevel-opt sweep spec.toml --out /shared/x --shard $((SLURM_ARRAY_TASK_ID + 1))/8   # job array",
      "bilevel-opt sweep spec.toml --out runs/x --launcher 'mpirun -np 4'   # 4 ranks a run (MPI build)",
  }));
  sub->callback([opts] {
    SweepParams p = opts->params;
    if (!opts->shard.empty()) p.shard = sweep_shard_parse(opts->shard);
    if (!opts->launcher.empty()) p.launcher = sweep_launcher_parse(opts->launcher);
    p.train_exe = "/proc/self/exe";
    const SweepOutcome o = run_sweep(p);
    if (p.dry_run) {
      std::cout << o.listing;
      return;
    }
    size_t failed = 0, early = 0;
    for (const auto& [status, n] : o.finished) {
      if (status == "error" || status == "failed") failed += n;
      else if (status != "ok") early += n;
    }
    if (p.progress) std::cerr << sweep_summary(p, o) << "\n";
    const std::string again = "continue with: bilevel-opt sweep " + p.spec_file + " --out " + p.out_dir +
                              " --resume" + (opts->shard.empty() ? "" : " --shard " + opts->shard);
    if (!o.index_error.empty()) throw run_failed("the sweep's index could not be written: " + o.index_error);
    if (failed) {
      throw run_failed(std::to_string(failed) + " run" + (failed > 1 ? "s" : "") +
                       " failed (see the index and each run's train.log); " + again);
    }
    if (o.stopped) {
      throw run_stopped("sweep stopped by a signal: " + std::to_string(o.not_started) + " runs not started; " + again);
    }
    if (early) {
      throw run_stopped(std::to_string(early) + " run" + (early > 1 ? "s" : "") +
                        " ended early (diverged or interrupted; see the index)");
    }
  });
}

}  // namespace bilevel::app

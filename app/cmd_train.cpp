// bilevel-opt train: run one bilevel optimization experiment and write a run directory.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "run/train.hpp"
#include "sys/process.hpp"

namespace bilevel::app {

void setup_train(CLI::App& app) {
  auto opts = std::make_shared<TrainParams>();
  auto* sub = app.add_subcommand("train", "Run one bilevel optimization experiment and write a run directory");
  sub->add_option("--problem", opts->problem, "Problem name (bilevel-opt list problems)");
  sub->add_option("--method", opts->method, "Hypergradient estimator (bilevel-opt list methods)");
  sub->add_option("--config", opts->config_file, "TOML file of options (command-line values win)");
  sub->add_option("--set", opts->sets, "Set an option: --set key=value (repeatable)")->allow_extra_args(false);
  sub->add_option("--seed", opts->seed, "Random seed (initialization, task sampling, estimator coins)");
  sub->add_option("--steps", opts->steps, "Budget: number of outer steps");
  sub->add_option("--budget-grad-evals", opts->budget_grad_evals,
                  "Budget: gradient evaluations + Hessian-vector products (equal-compute comparisons)");
  sub->add_option("--budget-seconds", opts->budget_seconds, "Budget: estimator seconds (evaluation excluded)");
  sub->add_option("--threads", opts->threads, "Worker threads for the tasks of a meta-batch")
      ->check(CLI::PositiveNumber);
  sub->add_option("--out", opts->out_dir, "Run directory to write")->required();
  sub->add_flag("--force", opts->force, "Overwrite a run directory that already holds a result");
  sub->add_flag("--quiet", opts->quiet, "No progress line");
  sub->callback([opts] {
    const ResolvedRun run = resolve_run(*opts);  // every input error surfaces here, before any file is written
    const sys::StopSignals signals;              // SIGINT/SIGTERM end the run after its current step
    const TrainOutcome outcome = run_train(run, &signals.requested());
    if (!opts->quiet) {
      std::cerr << "bilevel-opt train: " << outcome.status << " after " << outcome.result["steps"] << " steps, "
                << outcome.result["grad_evals"] << " grad evals; results in " << opts->out_dir << "\n";
    }
    if (outcome.status == "error") throw run_failed(outcome.result.value("message", "run failed"));
    if (outcome.status == "interrupted") throw run_stopped("interrupted; partial results in " + opts->out_dir);
    if (outcome.status == "diverged") throw run_stopped("diverged: " + outcome.result.value("message", ""));
  });
}

}  // namespace bilevel::app

// bilevel-opt train: run one bilevel optimization experiment and write a run directory; rerun one (--from) or
// continue an unfinished one from its checkpoint (--resume).
#include <iostream>
#include <memory>

#include "base/number_text.hpp"
#include "commands.hpp"
#include "run/distributed.hpp"
#include "run/train.hpp"
#include "sys/mpi.hpp"
#include "sys/process.hpp"

namespace bilevel::app {

namespace {

// One line for people: "ok after 500 steps, cost 110000 (grads + HVPs); results in DIR".
std::string summary(const TrainOutcome& o, const std::string& dir) {
  std::string s = o.status + " after " + o.result["steps"].dump() + " steps";
  if (o.resumed_from > 0) s += " (continued from the checkpoint at step " + std::to_string(o.resumed_from) + ")";
  if (o.resumed_from == 0) s += " (no checkpoint yet: started over)";
  return s + ", cost " + shortest_text(o.result["cost"].get<double>()) + " (grads + HVPs); results in " + dir;
}

}  // namespace

void setup_train(CLI::App& app) {
  auto opts = std::make_shared<TrainParams>();
  auto resume_dir = std::make_shared<std::string>();
  auto* sub = app.add_subcommand(
      "train",
      "Run one experiment into a run directory; rerun one (--from) or continue one (--resume). The directory holds "
      "config.json, curve.jsonl, lambda.bin and lambda.npy, result.json. --from reruns a run with its options; "
      "--resume continues an interrupted or killed run from its last checkpoint, to the same results as if it had "
      "not stopped.");
  add_run_flags(sub, *opts, "outer steps", "Set a problem, method or run option (repeatable; bilevel-opt list …)");
  sub->add_option("--method", opts->method, "Hypergradient estimator (bilevel-opt list methods)")->type_name("METHOD");
  sub->add_option("--from", opts->from_dir, "Rerun a run: every option from its config.json (flags given here win)")
      ->type_name("RUN_DIR");
  sub->add_option("--resume", *resume_dir,
                  "Continue the unfinished run in RUN_DIR from its checkpoint (only --threads, --quiet may be given)")
      ->type_name("RUN_DIR");
  sub->footer(examples_footer({
      "bilevel-opt train --problem ufo-counterexample --method ufo --set q=0.1 --steps 10000 --out runs/u",
      "bilevel-opt train --problem sinusoid --method exact --budget-cost 400000 --threads 2 --out runs/m",
      "bilevel-opt train --config experiments/sinusoid/maml.toml --seed 3 --out runs/m3",
      "bilevel-opt train --from runs/m --seed 4 --out runs/m4      # the same options, another seed",
      "bilevel-opt train --resume runs/m                           # after Ctrl-C or a kill",
      "bilevel-opt train --problem quadratic --method exact --set lambda_init_file=runs/q1 --out runs/q2",
  }));
  sub->callback([sub, opts, resume_dir] {
    opts->seed_given = sub->count("--seed") > 0;
    opts->threads_given = sub->count("--threads") > 0;
    opts->command_line = command_line();
    if (!resume_dir->empty()) {
      if (!opts->out_dir.empty()) throw usage_error("train --resume writes into RUN_DIR itself: drop --out");
      opts->out_dir = *resume_dir;
      opts->resume = true;
    } else if (opts->out_dir.empty()) {
      throw usage_error("train: --out DIR is required (the run directory to write), or --resume RUN_DIR to "
                        "continue a run (see bilevel-opt train --help)");
    }
    const ResolvedRun run = resolve_run(*opts);  // every input error surfaces here, before any file is written
    const sys::StopSignals signals;              // SIGINT/SIGTERM end the run after its current step
    if (sys::mpi::rank() > 0) {                  // mpirun: ranks 1…N−1 serve rank 0's steps
      const int code = serve_train_rank(run, &signals.requested());
      if (code != 0) throw quiet_exit{code};
      return;
    }
    const TrainOutcome outcome = run_train(run, &signals.requested());
    if (outcome.status == "error") throw run_failed(outcome.result.value("message", "run failed"));
    if (outcome.status == "interrupted") {
      throw run_stopped("interrupted after " + outcome.result["steps"].dump() + " steps; continue with: bilevel-opt "
                        "train --resume " + sys::shell_quote(opts->out_dir));
    }
    if (outcome.status == "diverged") throw run_stopped("diverged: " + outcome.result.value("message", ""));
    if (!opts->quiet) std::cerr << "bilevel-opt train: " << summary(outcome, opts->out_dir) << "\n";
  });
}

}  // namespace bilevel::app

// bilevel-opt search: random search over λ at a cost budget — the baseline for problems with few
// hyperparameters — written as an ordinary run directory (method "random-search").
#include <iostream>
#include <memory>

#include "base/number_text.hpp"
#include "commands.hpp"
#include "run/random_search.hpp"
#include "sys/process.hpp"

namespace bilevel::app {

void setup_search(CLI::App& app) {
  auto opts = std::make_shared<TrainParams>();
  auto* sub = app.add_subcommand(
      "search",
      "Random search over λ at a cost budget: the baseline for few hyperparameters. Each candidate (λ drawn "
      "uniformly from [low, high] per coordinate; the first is the problem's initial λ) costs one inner solve, "
      "counted like every method's; writes a run directory whose λ is the best candidate.");
  add_run_flags(sub, *opts, "candidates", "Set a problem or run option, or the box: low=…, high=… (repeatable)");
  sub->footer(examples_footer({
      "bilevel-opt search --problem quadratic --set low=-6 --set high=3 --budget-cost 100000 --out rs",
      "bilevel-opt search --config experiments/hpo/hpo_l2.toml --set decay=scalar \\",
      "    --set low=-12 --set high=-1 --budget-cost 6000 --out runs/hpo-rs",
  }));
  sub->callback([sub, opts] {
    if (opts->out_dir.empty()) throw usage_error("search: --out DIR is required (the run directory to write)");
    opts->seed_given = sub->count("--seed") > 0;
    opts->threads_given = sub->count("--threads") > 0;
    opts->command_line = command_line();
    const sys::StopSignals signals;
    const SearchOutcome o = run_random_search(*opts, &signals.requested());
    if (o.status == "interrupted") throw run_stopped("interrupted after " + o.result["steps"].dump() + " candidates");
    if (!opts->quiet) {
      std::cerr << "bilevel-opt search: " << o.status << " after " << o.result["steps"] << " candidates, cost "
                << shortest_text(o.result["cost"].get<double>()) << " (grads + HVPs); best: candidate "
                << o.result["best_candidate"] << "; results in " << opts->out_dir << "\n";
    }
  });
}

}  // namespace bilevel::app

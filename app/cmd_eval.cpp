// bilevel-opt eval: the problem's metrics at a run's saved λ, the inner problem solved again — with the run's
// problem options (reproducing its final metrics) or with some changed.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "run/eval.hpp"

namespace bilevel::app {

void setup_eval(CLI::App& app) {
  auto opts = std::make_shared<EvalParams>();
  auto format = std::make_shared<std::string>("md");
  auto* sub = app.add_subcommand(
      "eval",
      "Evaluate a run's λ under its own or changed problem options. The inner problem is solved again from the "
      "saved λ and the problem's metrics reported: with the run's problem options they are its recorded final "
      "metrics, reproduced exactly; --set changes some (inner steps, dataset split, instance).");
  sub->add_option("RUN_DIR", opts->run_dir, "A run directory of train or search")->required();
  sub->add_option("--set", opts->sets, "Change a problem option, or instance_seed (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  sub->add_option("--lambda", opts->lambda_file, "Evaluate this λ instead (a .npy, a run's lambda.bin or a run directory)")
      ->type_name("FILE");
  sub->add_option("--out", opts->out_file, "Also write the report as JSON")->type_name("FILE.json");
  sub->add_option("--format", *format, "Report on stdout: md (a table) or json")
      ->type_name("FORMAT")
      ->capture_default_str()
      ->check(one_of({"md", "json"}));
  sub->footer(examples_footer({
      "bilevel-opt eval runs/hpo                                  # the recorded final metrics, again",
      "bilevel-opt eval runs/hpo --set eval_inner_steps=300       # train longer under the learned λ",
      "bilevel-opt eval runs/hpo --set dataset=fashion --set instance_seed=2 --out eval.json",
  }));
  sub->callback([opts, format] {
    const nlohmann::json report = run_eval(*opts);
    std::cout << (*format == "json" ? report.dump(2) + "\n" : eval_table_text(report));
    if (!opts->out_file.empty()) std::cerr << "bilevel-opt eval: written: " << opts->out_file << "\n";
  });
}

}  // namespace bilevel::app

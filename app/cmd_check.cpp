// bilevel-opt check: every requested estimator on one seeded problem instance, against exact.
#include <iostream>
#include <memory>
#include <sstream>

#include "commands.hpp"
#include "run/check.hpp"

namespace bilevel::app {

void setup_check(CLI::App& app) {
  auto opts = std::make_shared<CheckParams>();
  auto methods = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("check", "Compare every hypergradient estimator on one seeded problem instance");
  sub->add_option("--problem", opts->problem, "Problem name")->required();
  sub->add_option("--methods", *methods, "Comma-separated methods (default: every method that applies)");
  sub->add_option("--set", opts->sets, "Set a problem or method option: --set key=value (repeatable)");
  sub->add_option("--samples", opts->samples, "Repetitions per estimator (bias and variance)");
  sub->add_option("--seed", opts->seed, "Seed of λ, the task and the estimators' coins");
  sub->add_option("--out", opts->out_file, "JSON file to write")->required();
  sub->add_flag("--bias-variance", opts->bias_variance,
                "UFOM toys: add D², V², their bounds and the optimal q (κ = ½ and 2) of the instance");
  sub->callback([opts, methods] {
    std::stringstream ss(*methods);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) opts->methods.push_back(item);
    std::cout << check_table_text(run_check(*opts)) << "written: " << opts->out_file << "\n";
  });
}

}  // namespace bilevel::app

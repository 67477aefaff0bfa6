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
  auto* sub = app.add_subcommand(
      "check",
      "Estimators on one seeded instance against the exact hypergradient. Each one's mean over --samples "
      "estimates: bias with its standard error, cosine, variance, cost; the instance is written too, to rebuild "
      "it elsewhere.");
  sub->add_option("--problem", opts->problem, "Problem (bilevel-opt list problems)")->type_name("PROBLEM")->required();
  sub->add_option("--methods", *methods, "Comma-separated methods (default: every method that applies)")
      ->type_name("METHOD,…");
  sub->add_option("--set", opts->sets, "Set a problem or method option (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  sub->add_option("--samples", opts->samples, "Estimates per method (bias and variance)")
      ->type_name("N")
      ->capture_default_str()
      ->check(integer_at_least(1));
  sub->add_option("--seed", opts->seed, "Seed of λ, the task and the estimators' coins")
      ->type_name("SEED")
      ->capture_default_str()
      ->check(unsigned_integer());
  sub->add_option("--out", opts->out_file, "JSON file to write (- for standard output)")->type_name("FILE.json")->required();
  sub->add_flag("--bias-variance", opts->bias_variance,
                "UFOM toys: add D², V², their bounds and the optimal q (κ = ½ and 2) of the instance");
  sub->footer(examples_footer({
      "bilevel-opt check --problem quadratic --methods fo,exact,ift-cg,ufo --samples 200 --out check.json",
      "bilevel-opt check --problem ufo-counterexample --methods fo,ufo --set q=0.2 --out cx.json",
  }));
  sub->callback([opts, methods] {
    std::stringstream ss(*methods);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) opts->methods.push_back(item);
    const std::string table = check_table_text(run_check(*opts));
    if (opts->out_file == "-") {
      std::cerr << table;  // standard output carries the JSON
    } else {
      std::cout << table << "written: " << opts->out_file << "\n";
    }
  });
}

}  // namespace bilevel::app

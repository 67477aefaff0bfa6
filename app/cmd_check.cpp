// bilevel-opt check: every requested estimator on one seeded problem instance, against exact.
#include <iomanip>
#include <iostream>
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
  sub->callback([opts, methods] {
    std::stringstream ss(*methods);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) opts->methods.push_back(item);
    const auto out = run_check(*opts);
    std::cout << std::left << std::setw(14) << "method" << std::setw(14) << "rel. bias" << std::setw(12) << "cosine"
              << std::setw(14) << "variance" << std::setw(12) << "grads" << "hvps\n";
    for (const auto& [name, e] : out["estimators"].items()) {
      if (!e["applicable"].get<bool>()) {
        std::cout << std::setw(14) << name << "(does not apply)\n";
        continue;
      }
      auto num = [](const nlohmann::json& j) { return j.is_null() ? NAN : j.get<double>(); };
      std::cout << std::setw(14) << name << std::setw(14) << std::setprecision(4) << num(e["relative_bias"])
                << std::setw(12) << num(e["cosine_to_exact"]) << std::setw(14) << num(e["variance"]) << std::setw(12)
                << num(e["grad_evals_per_sample"]) << num(e["hvps_per_sample"]) << "\n";
    }
    std::cout << "written: " << opts->out_file << "\n";
  });
}

}  // namespace bilevel::app

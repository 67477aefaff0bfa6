// bilevel-opt list: problems or methods, with one-line descriptions and every option with its default.
#include <iostream>

#include "commands.hpp"
#include "hypergrad/estimator.hpp"
#include "problems/problem.hpp"
#include "run/train.hpp"

namespace bilevel::app {

namespace {
void print_options(const std::vector<OptionSpec>& specs) {
  for (const auto& s : specs) {
    std::cout << "      " << s.key << " = " << s.default_value << "    " << s.help << " (" << s.range_text() << ")\n";
  }
}
}  // namespace

void setup_list(CLI::App& app) {
  auto what = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("list", "List problems or methods with their options and defaults");
  sub->add_option("what", *what, "problems | methods | run-options")
      ->required()
      ->check(CLI::IsMember({"problems", "methods", "run-options"}));
  sub->callback([what] {
    if (*what == "problems") {
      for (const auto& p : problem_registry()) {
        std::cout << p.name << "\n    " << p.description << "\n";
        print_options(p.options);
        if (!p.run_defaults.empty()) {
          std::cout << "      run defaults:";
          for (const auto& [k, v] : p.run_defaults) std::cout << " " << k << "=" << v;
          std::cout << "\n";
        }
      }
    } else if (*what == "methods") {
      for (const auto& m : method_registry()) {
        std::cout << m.name << "\n    " << m.description << "\n";
        print_options(m.options);
      }
    } else {
      std::cout << "run options (set with --set key=value, any problem and method)\n";
      print_options(run_option_specs());
    }
  });
}

}  // namespace bilevel::app

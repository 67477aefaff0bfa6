// bilevel-opt list: problems or methods, with one-line descriptions and every option with its default.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "run/listing.hpp"

namespace bilevel::app {

void setup_list(CLI::App& app) {
  auto what = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("list", "List problems or methods with their options and defaults");
  sub->add_option("what", *what, "problems | methods | run-options")
      ->required()
      ->check(CLI::IsMember({"problems", "methods", "run-options"}));
  sub->callback([what] { std::cout << list_text(*what); });
}

}  // namespace bilevel::app

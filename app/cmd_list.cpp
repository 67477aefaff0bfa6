// bilevel-opt list: problems, methods or run options, with descriptions, metrics, applicability and every
// option with its default — as text or JSON.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "run/listing.hpp"

namespace bilevel::app {

void setup_list(CLI::App& app) {
  auto what = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("text");
  auto* sub = app.add_subcommand(
      "list", "Problems, methods or run options, with their options and defaults. Problems say the metrics they "
              "log, methods the problems they apply to; every option its default and valid range.");
  sub->add_option("WHAT", *what, "problems, methods or run-options")
      ->required()
      ->check(one_of({"problems", "methods", "run-options"}));
  sub->add_option("--format", *format, "text, or json for scripts")
      ->type_name("FORMAT")
      ->capture_default_str()
      ->check(one_of({"text", "json"}));
  sub->footer(examples_footer({"bilevel-opt list methods", "bilevel-opt list problems --format json | jq '.[].name'"}));
  sub->callback([what, format] { std::cout << list_text(*what, *format); });
}

}  // namespace bilevel::app

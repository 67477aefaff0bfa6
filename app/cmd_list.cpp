// bilevel-opt list: List problems or methods with their options and defaults.
#include "commands.hpp"

namespace bilevel::app {

void setup_list(CLI::App& app) {
  auto* sub = app.add_subcommand("list", "List problems or methods with their options and defaults");
  sub->allow_extras();
  sub->callback([] {
    throw not_available("'list' is not available yet in this version of bilevel-opt");
  });
}

}  // namespace bilevel::app

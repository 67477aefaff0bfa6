// bilevel-opt compare: Compare run directories: tables and learning curves.
#include "commands.hpp"

namespace bilevel::app {

void setup_compare(CLI::App& app) {
  auto* sub = app.add_subcommand("compare", "Compare run directories: tables and learning curves");
  sub->allow_extras();
  sub->callback([] {
    throw not_available("'compare' is not available yet in this version of bilevel-opt");
  });
}

}  // namespace bilevel::app

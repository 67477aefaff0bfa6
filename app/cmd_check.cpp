// bilevel-opt check: Compare every hypergradient estimator on one seeded problem instance.
#include "commands.hpp"

namespace bilevel::app {

void setup_check(CLI::App& app) {
  auto* sub = app.add_subcommand("check", "Compare every hypergradient estimator on one seeded problem instance");
  sub->allow_extras();
  sub->callback([] {
    throw not_available("'check' is not available yet in this version of bilevel-opt");
  });
}

}  // namespace bilevel::app

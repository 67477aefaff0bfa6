// bilevel-opt sweep: Run a grid of train runs from a spec file.
#include "commands.hpp"

namespace bilevel::app {

void setup_sweep(CLI::App& app) {
  auto* sub = app.add_subcommand("sweep", "Run a grid of train runs from a spec file");
  sub->allow_extras();
  sub->callback([] {
    throw not_available("'sweep' is not available yet in this version of bilevel-opt");
  });
}

}  // namespace bilevel::app

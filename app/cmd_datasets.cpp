// bilevel-opt datasets: List or verify the datasets in the data directory.
#include "commands.hpp"

namespace bilevel::app {

void setup_datasets(CLI::App& app) {
  auto* sub = app.add_subcommand("datasets", "List or verify the datasets in the data directory");
  sub->allow_extras();
  sub->callback([] {
    throw not_available("'datasets' is not available yet in this version of bilevel-opt");
  });
}

}  // namespace bilevel::app

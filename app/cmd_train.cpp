// bilevel-opt train: Run one bilevel optimization experiment and write a run directory.
#include "commands.hpp"

namespace bilevel::app {

void setup_train(CLI::App& app) {
  auto* sub = app.add_subcommand("train", "Run one bilevel optimization experiment and write a run directory");
  sub->allow_extras();
  sub->callback([] {
    throw not_available("'train' is not available yet in this version of bilevel-opt");
  });
}

}  // namespace bilevel::app

// bilevel-opt datasets list|verify: what the dataset manifest offers, what the data directory holds, and
// whether every file matches its pinned sha256.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "run/datasets_report.hpp"

namespace bilevel::app {

void setup_datasets(CLI::App& app) {
  auto opts = std::make_shared<DatasetsParams>();
  auto* sub = app.add_subcommand("datasets", "List or verify the datasets in the data directory");
  sub->require_subcommand(1);
  auto add_common = [&](CLI::App* s) {
    s->add_option("--data-dir", opts->data_dir, "Data directory (default: $BILEVEL_DATA, else ./data)");
    s->add_option("--manifest", opts->manifest,
                  "Dataset manifest (default: <data dir>/manifest.json, else the source tree's datasets/manifest.json)");
  };
  auto* list = sub->add_subcommand("list", "Datasets of the manifest: examples, features, classes, source, present or not");
  add_common(list);
  list->callback([opts] { datasets_list(*opts, std::cout); });
  auto* verify = sub->add_subcommand("verify", "Check every dataset file's size and sha256 against the manifest");
  add_common(verify);
  verify->add_option("names", opts->names, "Datasets to verify (default: every file of the manifest)");
  verify->callback([opts] { datasets_verify(*opts, std::cout); });
}

}  // namespace bilevel::app

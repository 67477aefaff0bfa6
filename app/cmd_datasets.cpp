// bilevel-opt datasets list|verify|preview: what the dataset manifest offers, what the data directory holds,
// whether every file matches its pinned sha256, and a contact sheet of a character dataset to look at.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "data/preview.hpp"
#include "run/datasets_report.hpp"

namespace bilevel::app {

void setup_datasets(CLI::App& app) {
  auto opts = std::make_shared<DatasetsParams>();
  auto* sub = app.add_subcommand("datasets", "List, verify or preview the datasets in the data directory.");
  sub->require_subcommand(1);
  sub->footer(examples_footer({"bilevel-opt datasets list", "bilevel-opt datasets verify mnist",
                               "bilevel-opt datasets preview hanzi --out hanzi.png"}));
  auto add_common = [&](CLI::App* s) {
    s->add_option("--data-dir", opts->data_dir, "Data directory (default: $BILEVEL_DATA, else ./data)")->type_name("DIR");
    s->add_option("--manifest", opts->manifest,
                  "Dataset manifest (default: DIR/manifest.json, else the source tree's datasets/manifest.json)")
        ->type_name("FILE");
  };
  auto* list = sub->add_subcommand("list", "Datasets of the manifest: examples, features, classes, source, present or not");
  add_common(list);
  list->callback([opts] { datasets_list(*opts, std::cout); });
  auto* verify = sub->add_subcommand("verify", "Check every dataset file's size and sha256 against the manifest");
  add_common(verify);
  verify->add_option("NAME", opts->names, "Datasets to verify (default: every file of the manifest)");
  verify->callback([opts] { datasets_verify(*opts, std::cout); });
  auto preview_opts = std::make_shared<data::PreviewParams>();
  auto* preview = sub->add_subcommand("preview", "Write a PNG contact sheet of a character dataset (hanzi, omniglot): "
                                                 "rows = characters, columns = instances");
  preview->add_option("NAME", preview_opts->name, "hanzi or omniglot")->required();
  preview->add_option("--data-dir", preview_opts->data_dir,
                      "Data directory (default: $BILEVEL_DATA, else ./data); for omniglot the folder holding "
                      "images_background/ and images_evaluation/")
      ->type_name("DIR");
  preview->add_option("--out", preview_opts->out, "PNG file to write (default: NAME-preview.png)")->type_name("FILE.png");
  preview->add_option("--chars", preview_opts->chars, "Characters (rows) to show")->type_name("N")->capture_default_str();
  preview->add_option("--seed", preview_opts->seed, "Seed choosing the characters")
      ->type_name("SEED")
      ->capture_default_str()
      ->check(unsigned_integer());
  preview->callback([preview_opts] { data::datasets_preview(*preview_opts, std::cout); });
}

}  // namespace bilevel::app

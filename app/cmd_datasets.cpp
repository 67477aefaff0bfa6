// bilevel-opt datasets list|verify: what the dataset manifest offers, what the data directory holds, and
// whether every file matches its pinned sha256.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "data/data_dir.hpp"
#include "data/manifest.hpp"

namespace bilevel::app {

namespace {

struct DatasetsOptions {
  std::string data_dir;  // empty: $BILEVEL_DATA, else ./data
  std::string manifest;  // empty: <data dir>/manifest.json, else the source tree's datasets/manifest.json
  std::vector<std::string> names;  // verify: restrict to these datasets (default: every file of the manifest)
};

std::string pad(const std::string& s, size_t width) {
  // Pads by code points so the box-drawing and Greek letters in descriptions do not skew columns.
  size_t cps = 0;
  for (unsigned char c : s) cps += (c & 0xc0) != 0x80;
  return cps >= width ? s + " " : s + std::string(width - cps, ' ');
}

void run_datasets_list(const DatasetsOptions& o) {
  const std::string dir = data::resolve_data_dir(o.data_dir);
  const data::Manifest m = data::read_manifest(data::locate_manifest(dir, o.manifest));
  std::cout << "data directory: " << dir << "   (manifest: " << m.path << ")\n\n";
  std::cout << pad("name", 15) << pad("train", 7) << pad("test", 7) << pad("features", 10) << pad("classes", 9)
            << pad("MB", 7) << pad("source", 56) << "status\n";
  bool any_missing = false;
  for (const auto& d : m.datasets) {
    int64_t bytes = 0, present = 0;
    std::string problem;
    for (const auto& rel : d.files) {
      const data::ManifestFile* f = m.file(rel);
      bytes += f->size;
      const data::FileCheck c = data::check_file(dir, *f, false);
      if (c.state == data::FileState::ok) ++present;
      else if (c.state != data::FileState::missing && problem.empty()) problem = rel + ": " + c.describe(*f);
    }
    std::string status;
    if (!problem.empty()) status = "damaged (" + problem + ")";
    else if (present == static_cast<int64_t>(d.files.size())) status = "present";
    else if (present == 0) status = "missing";
    else status = "incomplete (" + std::to_string(d.files.size() - static_cast<size_t>(present)) + " of " +
                  std::to_string(d.files.size()) + " files missing)";
    any_missing = any_missing || status != "present";
    const data::ManifestSource* s = m.source(d.source);
    char mb[32];
    std::snprintf(mb, sizeof mb, "%.1f", static_cast<double>(bytes) / 1e6);
    std::cout << pad(d.name, 15) << pad(std::to_string(d.train), 7) << pad(std::to_string(d.test), 7)
              << pad(std::to_string(d.features), 10) << pad(std::to_string(d.classes), 9) << pad(mb, 7)
              << pad(s ? s->describe() : d.source, 56) << status << "\n";
  }
  std::cout << "\n";
  if (any_missing) std::cout << "fetch missing data with " << data::fetch_command(dir) << "\n";
  std::cout << "sizes and presence only; `bilevel-opt datasets verify` checks every sha256\n";
}

void run_datasets_verify(const DatasetsOptions& o) {
  const std::string dir = data::resolve_data_dir(o.data_dir);
  const data::Manifest m = data::read_manifest(data::locate_manifest(dir, o.manifest));
  std::vector<std::string> files;
  if (o.names.empty()) {
    for (const auto& s : m.sources)
      for (const auto& f : s.files) files.push_back(f.path);
  } else {
    for (const auto& n : o.names) {
      const data::ManifestDataset* d = m.dataset(n);
      if (!d) {
        std::string known;
        for (const auto& k : m.dataset_names()) known += (known.empty() ? "" : ", ") + k;
        throw usage_error("unknown dataset '" + n + "'; known datasets: " + known);
      }
      files.insert(files.end(), d->files.begin(), d->files.end());
    }
  }
  std::cout << "data directory: " << dir << "   (manifest: " << m.path << ")\n";
  int64_t bad = 0;
  for (const auto& rel : files) {
    const data::ManifestFile* f = m.file(rel);
    const data::FileCheck c = data::check_file(dir, *f, true);
    const bool ok = c.state == data::FileState::ok;
    bad += !ok;
    std::cout << (ok ? "ok       " : "FAILED   ") << pad(rel, 44) << (ok ? "sha256 " + f->sha256 : c.describe(*f))
              << "\n";
    std::cout.flush();
  }
  if (bad > 0) {
    throw std::runtime_error(std::to_string(bad) + " of " + std::to_string(files.size()) +
                             " dataset files failed verification in " + dir + "; fetch them again with " +
                             data::fetch_command(dir));
  }
  std::cout << "all " << files.size() << " files match their pinned sha256\n";
}

}  // namespace

void setup_datasets(CLI::App& app) {
  auto opts = std::make_shared<DatasetsOptions>();
  auto* sub = app.add_subcommand("datasets", "List or verify the datasets in the data directory");
  sub->require_subcommand(1);
  auto add_common = [&](CLI::App* s) {
    s->add_option("--data-dir", opts->data_dir, "Data directory (default: $BILEVEL_DATA, else ./data)");
    s->add_option("--manifest", opts->manifest,
                  "Dataset manifest (default: <data dir>/manifest.json, else the source tree's datasets/manifest.json)");
  };
  auto* list = sub->add_subcommand("list", "Datasets of the manifest: examples, features, classes, source, present or not");
  add_common(list);
  list->callback([opts] { run_datasets_list(*opts); });
  auto* verify = sub->add_subcommand("verify", "Check every dataset file's size and sha256 against the manifest");
  add_common(verify);
  verify->add_option("names", opts->names, "Datasets to verify (default: every file of the manifest)");
  verify->callback([opts] { run_datasets_verify(*opts); });
}

}  // namespace bilevel::app

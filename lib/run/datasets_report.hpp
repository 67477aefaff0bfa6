#pragma once
// `bilevel-opt datasets list|verify`: what the dataset manifest offers, what the data directory holds, and
// whether every file matches its pinned sha256.
#include <ostream>
#include <string>
#include <vector>

namespace bilevel {

struct DatasetsParams {
  std::string data_dir;            // empty: $BILEVEL_DATA, else ./data
  std::string manifest;            // empty: <data dir>/manifest.json, else the source tree's datasets/manifest.json
  std::vector<std::string> names;  // verify: restrict to these datasets (default: every file of the manifest)
};

// One line per dataset: examples, features, classes, size, source, and present | missing | incomplete |
// damaged (sizes only; no checksums).
void datasets_list(const DatasetsParams& params, std::ostream& out);

// Checks the size and sha256 of every file (of the named datasets), one line each. Throws usage_error for an
// unknown dataset name, io_error when some file fails (naming how many and the fetch command).
void datasets_verify(const DatasetsParams& params, std::ostream& out);

}  // namespace bilevel

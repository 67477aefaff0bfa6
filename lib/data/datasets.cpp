#include "data/datasets.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "data/csv.hpp"
#include "data/data_dir.hpp"
#include "data/idx.hpp"
#include "data/manifest.hpp"
#include "tensor/rng.hpp"

namespace bilevel::data {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kTableSplitStream = 0x7370c1174ULL;  // the fixed train/test split of CSV tables

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

// read_manifest has checked that every role the dataset's format reads is there.
std::string spec_file(const ManifestDataset& d, const char* role) { return d.file_roles.at(role); }

void check_labels(const std::vector<int64_t>& y, int64_t classes, const std::string& path, const std::string& hint) {
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] < 0 || y[i] >= classes) {
      throw data_error(path + ": label " + std::to_string(y[i]) + " of example " + std::to_string(i) +
                       " outside [0, " + std::to_string(classes) + "); fetch it with " + hint);
    }
  }
}

Examples read_idx_pair(const std::string& dir, const ManifestDataset& d, const char* images_role,
                       const char* labels_role, int64_t n, const std::string& hint) {
  std::vector<int64_t> image_dims{n};
  image_dims.insert(image_dims.end(), d.image_shape.begin(), d.image_shape.end());
  const std::string ip = (fs::path(dir) / spec_file(d, images_role)).string();
  const std::string lp = (fs::path(dir) / spec_file(d, labels_role)).string();
  IdxArray images = read_idx(ip, image_dims, hint);
  IdxArray labels = read_idx(lp, {n}, hint);
  Examples e;
  e.n = n;
  e.d = d.features;  // = the product of image_shape (read_manifest), so images hold n × features bytes
  e.x.assign(images.data.begin(), images.data.end());
  e.y.assign(labels.data.begin(), labels.data.end());
  check_labels(e.y, d.classes, lp, hint);
  return e;
}

}  // namespace

// Every file of the dataset against the manifest (in the manifest's order), all problems in one message.
void check_dataset_files(const std::string& dir, const Manifest& m, const ManifestDataset& d, bool checksum) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw data_error("data directory '" + dir + "' does not exist (dataset " + d.name + " needs " +
                     std::to_string(d.files.size()) + " files in it); fetch the data with " + fetch_command(dir));
  }
  std::vector<std::string> problems;
  for (const auto& s : m.sources)
    for (const auto& f : s.files) {
      if (std::find(d.files.begin(), d.files.end(), f.path) == d.files.end()) continue;
      const FileCheck c = check_file(dir, f, checksum);
      if (c.state != FileState::ok) problems.push_back((fs::path(dir) / f.path).string() + ": " + c.describe(f));
    }
  if (problems.empty()) return;
  const ManifestSource* src = m.source(d.source);
  std::string msg = problems.size() == 1 ? problems[0] : std::to_string(problems.size()) + " files of dataset " +
                                                             d.name + " are unusable: " + problems[0];
  for (size_t i = 1; i < problems.size(); ++i) msg += "; " + problems[i];
  msg += " (" + d.name + ": " + d.description + (src ? ", from " + src->describe() : "") + "); fetch it with " +
         fetch_command(dir);
  throw data_error(msg);
}

Dataset load_dataset(const std::string& name, const std::string& data_dir, bool verify_checksums,
                     const std::string& manifest_path) {
  const Manifest m = read_manifest(locate_manifest(data_dir, manifest_path));
  const ManifestDataset* d = m.dataset(name);
  if (!d) throw data_error("unknown dataset '" + name + "'; known datasets: " + join(m.dataset_names()));
  const ManifestSource* src = m.source(d->source);
  const std::string hint = fetch_command(data_dir);
  if (d->format == "strokes") {
    throw data_error("dataset '" + name + "' is a character dataset for few-shot problems (data/hanzi.hpp), not a " +
                     "table of examples");
  }
  check_dataset_files(data_dir, m, *d, verify_checksums);

  Dataset out;
  out.name = d->name;
  out.description = d->description;
  out.source = src ? src->describe() : d->source;
  out.features = d->features;
  out.classes = d->classes;
  out.scale = d->scale;
  if (d->format == "idx") {
    out.train = read_idx_pair(data_dir, *d, "train_images", "train_labels", d->train, hint);
    out.test = read_idx_pair(data_dir, *d, "test_images", "test_labels", d->test, hint);
    return out;
  }
  // csv: features then the label in each row.
  const std::string path = (fs::path(data_dir) / spec_file(*d, "table")).string();
  CsvOptions o;
  o.header_lines = d->header_lines;
  o.expected_rows = d->train + d->test;  // both ≤ kMaxCount: no overflow here or below
  o.expected_cols = d->features + 1;
  o.float_range = true;                  // the values are stored as float
  const CsvTable t = read_csv(path, o, hint);
  Rng split_rng(0, {kTableSplitStream});
  const std::vector<int64_t> perm = split_rng.permutation(t.rows);
  std::vector<bool> is_test(static_cast<size_t>(t.rows), false);
  for (int64_t i = 0; i < d->test; ++i) is_test[static_cast<size_t>(perm[static_cast<size_t>(i)])] = true;
  for (Examples* e : {&out.train, &out.test}) e->d = d->features;
  for (int64_t r = 0; r < t.rows; ++r) {
    Examples& e = is_test[static_cast<size_t>(r)] ? out.test : out.train;
    for (int64_t c = 0; c < d->features; ++c) e.x.push_back(static_cast<float>(t.at(r, c)));
    // The label: an integer in [0, classes), checked as a double before it is converted.
    const double label = t.at(r, d->features);
    if (!(label >= 0 && label < static_cast<double>(d->classes)) || label != std::floor(label)) {
      char shown[32];
      std::snprintf(shown, sizeof shown, "%.17g", label);
      throw data_error(path + ": data row " + std::to_string(r + 1) + " has the label " + shown +
                       ", expected an integer in [0, " + std::to_string(d->classes) + "); fetch it with " + hint);
    }
    e.y.push_back(static_cast<int64_t>(label));
    ++e.n;
  }
  return out;
}

}  // namespace bilevel::data

